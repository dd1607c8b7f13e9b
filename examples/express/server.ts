/**
 * The reports API (Express 5):
 * - `POST /tasks` sends `reports.build` and answers 202 with `{ taskId }` and a `Location` header;
 * - `GET /tasks/:id` tells the task's state, progress and result;
 * - `GET /tasks/:id/events` streams its updates as Server-Sent Events until a final state.
 */
import express, { type Express } from 'express';
import { TASK_ID, streamTask, view } from '../http-shared/reports.ts';
import { app, buildReport } from '../http-shared/tasks.ts';

/** The Express app. */
export function reportsApi(): Express {
  const api = express();
  api.use(express.json());

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
    await streamTask(req.params.id, res);
  });

  return api;
}
