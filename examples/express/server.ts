/**
 * The reports API (Express 5):
 * - `POST /tasks` sends `reports.build` and answers 202 with `{ taskId }` and a `Location` header;
 * - `GET /tasks/:id` tells the task's state, progress and result;
 * - `GET /tasks/:id/events` streams its updates as Server-Sent Events until a final state.
 */
import express, { type Express } from 'express';
import type { ResultRecord } from '../../src/index.ts';
import { app, buildReport } from './tasks.ts';

/** This API hands out task ids made by `randomUUID()`: anything else is not one of its tasks. */
const TASK_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The public view of a task's record (no traceback, no worker name). */
function view(r: ResultRecord): { taskId: string; state: string; progress: unknown; result: unknown; error: string | null } {
  return {
    taskId: r.taskId,
    state: r.status,
    progress: r.status === 'PROGRESS' ? r.meta : null,
    result: r.result,
    error: r.error ? `${r.error.name}: ${r.error.message}` : null,
  };
}

/** The Express app, and how many SSE streams are open (main.ts shows a closed one). */
export function reportsApi(): { api: Express; openStreams: () => number } {
  const api = express();
  api.use(express.json());
  let streams = 0;

  api.post('/tasks', async (req, res) => {
    const { title, rows } = (req.body ?? {}) as { title?: unknown; rows?: unknown };
    if (typeof title !== 'string' || title === '' || !Number.isInteger(rows) || (rows as number) < 1 || (rows as number) > 100) {
      res.status(400).json({ error: 'expected { "title": non-empty string, "rows": integer 1..100 }' });
      return;
    }
    const result = await buildReport.delay(title, rows as number);
    res.status(202).location(`/tasks/${result.id}`).json({ taskId: result.id });
  });

  api.get('/tasks/:id', async (req, res) => {
    if (!TASK_ID.test(req.params.id)) {
      res.status(404).json({ error: 'unknown task id' });
      return;
    }
    // A well-formed id with nothing stored is PENDING: queued, or not sent yet (as in Celery).
    res.json(view(await app.asyncResult(req.params.id).info()));
  });

  api.get('/tasks/:id/events', async (req, res) => {
    if (!TASK_ID.test(req.params.id)) {
      res.status(404).json({ error: 'unknown task id' });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.flushHeaders();
    // The client going away aborts the watch at once (a `break` would wait for the next update).
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    streams++;
    try {
      for await (const r of app.asyncResult(req.params.id).watch({ signal: gone.signal })) {
        res.write(`event: ${r.status.toLowerCase()}\ndata: ${JSON.stringify(view(r))}\n\n`);
      }
    } catch (err) {
      res.write(`event: error\ndata: ${JSON.stringify({ error: (err as Error).message })}\n\n`);
    } finally {
      streams--;
      res.end();
    }
  });

  return { api, openStreams: () => streams };
}
