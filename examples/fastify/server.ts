/**
 * The reports API (Fastify 5):
 * - `POST /tasks` sends `reports.build` and answers 202 with `{ taskId }` and a `Location` header;
 * - `GET /tasks/:id` tells the task's state, progress and result;
 * - `GET /tasks/:id/events` streams its updates as Server-Sent Events until a final state.
 */
import Fastify, { type FastifyInstance } from 'fastify';
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

const reportBody = {
  type: 'object',
  required: ['title', 'rows'],
  properties: { title: { type: 'string', minLength: 1 }, rows: { type: 'integer', minimum: 1, maximum: 100 } },
} as const;

/** The Fastify instance, and how many SSE streams are open (main.ts shows a closed one). */
export function reportsApi(): { api: FastifyInstance; openStreams: () => number } {
  const api = Fastify();
  let streams = 0;

  api.post<{ Body: { title: string; rows: number } }>('/tasks', { schema: { body: reportBody } }, async (req, reply) => {
    const result = await buildReport.delay(req.body.title, req.body.rows);
    return reply.code(202).header('location', `/tasks/${result.id}`).send({ taskId: result.id });
  });

  api.get<{ Params: { id: string } }>('/tasks/:id', async (req, reply) => {
    if (!TASK_ID.test(req.params.id)) return reply.code(404).send({ error: 'unknown task id' });
    // A well-formed id with nothing stored is PENDING: queued, or not sent yet (as in Celery).
    return view(await app.asyncResult(req.params.id).info());
  });

  api.get<{ Params: { id: string } }>('/tasks/:id/events', async (req, reply) => {
    if (!TASK_ID.test(req.params.id)) return reply.code(404).send({ error: 'unknown task id' });
    // The stream is written to the raw response: Fastify must not send a reply of its own.
    reply.hijack();
    const res = reply.raw;
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
