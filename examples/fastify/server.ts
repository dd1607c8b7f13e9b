/**
 * The reports API (Fastify 5):
 * - `POST /tasks` sends `reports.build` and answers 202 with `{ taskId }` and a `Location` header;
 * - `GET /tasks/:id` tells the task's state, progress and result;
 * - `GET /tasks/:id/events` streams its updates as Server-Sent Events until a final state.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { TASK_ID, streamTask, view } from '../http-shared/reports.ts';
import { app, buildReport } from '../http-shared/tasks.ts';

const reportBody = {
  type: 'object',
  required: ['title', 'rows'],
  properties: { title: { type: 'string', minLength: 1 }, rows: { type: 'integer', minimum: 1, maximum: 100 } },
} as const;

/** The Fastify instance. */
export function reportsApi(): FastifyInstance {
  const api = Fastify();

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
    await streamTask(req.params.id, reply.raw);
  });

  return api;
}
