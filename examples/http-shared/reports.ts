/**
 * What the Express and Fastify APIs share: which ids are tasks of theirs, the public view of a
 * task's record, and the Server-Sent Events stream of its updates (written to the Node response
 * both frameworks expose).
 */
import type { ServerResponse } from 'node:http';
import type { ResultRecord } from '../../src/index.ts';
import { app } from './tasks.ts';

/** These APIs hand out task ids made by `randomUUID()`: anything else is not one of their tasks. */
export const TASK_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The public view of a task's record (no traceback, no worker name). */
export function view(r: ResultRecord): { taskId: string; state: string; progress: unknown; result: unknown; error: string | null } {
  return {
    taskId: r.taskId,
    state: r.status,
    progress: r.status === 'PROGRESS' ? r.meta : null,
    result: r.result,
    error: r.error ? `${r.error.name}: ${r.error.message}` : null,
  };
}

let streams = 0;

/** How many SSE streams are open (main.ts shows that a client leaving closes its stream). */
export const openStreams = (): number => streams;

/**
 * Stream the updates of task `id` to `res` as Server-Sent Events (`event: <state>`, `data: <view>`)
 * until a final state, then end the response. The client going away aborts the watch at once (a
 * `break` would wait for the task's next update, which may never come).
 */
export async function streamTask(id: string, res: ServerResponse): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  res.flushHeaders();
  const gone = new AbortController();
  res.on('close', () => gone.abort());
  streams++;
  try {
    for await (const r of app.asyncResult(id).watch({ signal: gone.signal })) {
      res.write(`event: ${r.status.toLowerCase()}\ndata: ${JSON.stringify(view(r))}\n\n`);
    }
  } catch (err) {
    res.write(`event: error\ndata: ${JSON.stringify({ error: (err as Error).message })}\n\n`);
  } finally {
    streams--;
    res.end();
  }
}
