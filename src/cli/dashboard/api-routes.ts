import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { App } from '../../app/create-app.ts';
import type { DeadLetterInfo } from '../../app/dead-letter-queue.ts';
import { decodeSniffed } from '../../protocol/codec.ts';
import { H } from '../../protocol/headers.ts';
import type { OverviewSource } from './overview.ts';
import type { TaskTable } from './task-table.ts';

/** Longest argument preview in the dead-letter list (characters). */
const ARGS_PREVIEW = 500;

const TASK_ID = { type: 'string', minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_.:-]+$' } as const;
const QUEUE = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' } as const;

/** A POST without a body counts as `{}` (for `curl -X POST`), before the body schema is checked. */
async function emptyBodyIsObject(req: FastifyRequest): Promise<void> {
  if (req.body === undefined || req.body === null) req.body = {};
}

/** A dead letter as the API returns it: without the raw bytes, with an argument preview. */
export type DeadLetterView = Omit<DeadLetterInfo, 'raw'> & { args: string };

/** The `args` of a task-received event: the value when it is whole JSON, else the cut text. */
function parsedArgs(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Arguments of a message body (`[args, kwargs, embed]`), split; null parts when it does not decode. */
function splitBody(body: unknown): { args: unknown; kwargs: unknown } {
  if (Array.isArray(body) && body.length >= 2) return { args: body[0], kwargs: body[1] };
  return { args: body, kwargs: null };
}

function preview(e: DeadLetterInfo): string {
  let text: string;
  try {
    text = JSON.stringify(splitBody(decodeSniffed(e.raw.body)).args) ?? '';
  } catch (err) {
    text = `<undecodable: ${(err as Error).message}>`;
  }
  return text.length > ARGS_PREVIEW ? `${text.slice(0, ARGS_PREVIEW)}…` : text;
}

function view(e: DeadLetterInfo): DeadLetterView {
  const { raw: _raw, ...rest } = e;
  return { ...rest, args: preview(e) };
}

/** The trace id of a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`), or null. */
export function traceIdOf(traceparent: string | undefined): string | null {
  const m = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent?.trim() ?? '');
  return m ? (m[1] as string) : null;
}

/**
 * The JSON API. Reads are GET; everything that changes state is POST (and so needs the CSRF token
 * when the caller is a logged-in browser, see auth.ts).
 */
export function registerApiRoutes(fastify: FastifyInstance, app: App, table: TaskTable, overview: OverviewSource): void {
  fastify.get('/api/overview', () => overview.overview());

  fastify.get('/api/workers', async () => ({ workers: await overview.workers() }));

  fastify.get('/api/queues', async () => {
    const { queues, error } = await overview.queues();
    return { queues, error };
  });

  fastify.get<{ Querystring: { q?: string; name?: string; state?: string; limit?: number } }>(
    '/api/tasks',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            q: { type: 'string', maxLength: 200 },
            name: { type: 'string', maxLength: 200 },
            state: { type: 'string', maxLength: 20 },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
      },
    },
    async (req) => ({ tasks: table.search(req.query), names: table.names(), tracked: table.size }),
  );

  fastify.get<{ Params: { id: string } }>('/api/tasks/:id', { schema: { params: { type: 'object', properties: { id: TASK_ID }, required: ['id'] } } }, async (req) => {
    const id = req.params.id;
    const row = table.get(id);
    const [record, dead] = await Promise.all([app.asyncResult(id).info(), app.deadLetters.show(id)]);
    const dl = dead.at(-1);
    const body = dl ? splitBody(dl.args) : null;
    const traceparent = dl?.raw.headers[H.traceparent] ?? null;
    return {
      id,
      name: record.name ?? row?.name ?? dl?.task ?? null,
      // The stored state is the truth once there is one; before that, what the events said.
      state: record.status !== 'PENDING' || !row ? record.status : row.state,
      queue: row?.queue ?? dl?.queue ?? null,
      worker: record.worker ?? row?.worker ?? dl?.worker ?? null,
      receivedAt: row?.receivedAt ?? null,
      startedAt: row?.startedAt ?? null,
      runtimeMs: row?.runtimeMs ?? null,
      retries: row?.retries ?? dl?.retries ?? 0,
      attempts: record.attempts || dl?.attempts || 0,
      // Arguments travel in the message (a dead letter keeps it) and, cut at 200 characters, in task-received.
      args: body ? body.args : parsedArgs(row?.args ?? null),
      kwargs: body ? body.kwargs : null,
      result: record.result,
      error: record.error,
      traceback: record.traceback,
      meta: record.meta,
      children: record.children,
      dateDone: record.dateDone,
      traceparent,
      traceId: traceIdOf(traceparent ?? undefined) ?? row?.traceId ?? null,
      rootId: dl?.raw.headers[H.rootId] ?? null,
      parentId: dl?.raw.headers[H.parentId] ?? null,
      deadLetters: dead.map(view),
      history: row?.history ?? [],
    };
  });

  fastify.post<{ Params: { id: string }; Body: { terminate?: boolean } }>(
    '/api/tasks/:id/revoke',
    {
      preValidation: emptyBodyIsObject,
      schema: {
        params: { type: 'object', properties: { id: TASK_ID }, required: ['id'] },
        body: { type: 'object', additionalProperties: false, properties: { terminate: { type: 'boolean' } } },
      },
    },
    async (req) => {
      const terminate = req.body.terminate === true;
      await app.control.revoke([req.params.id], { terminate });
      return { revoked: [req.params.id], terminate };
    },
  );

  fastify.get<{ Querystring: { queue?: string; limit?: number } }>(
    '/api/dlq',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { queue: QUEUE, limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 500 } },
        },
      },
    },
    async (req) => {
      const [entries, total] = await Promise.all([app.deadLetters.list({ queue: req.query.queue, limit: req.query.limit }), app.deadLetters.count(req.query.queue)]);
      return { entries: entries.map(view), total };
    },
  );

  fastify.post<{ Body: { ids?: string[]; all?: boolean; queue?: string } }>(
    '/api/dlq/replay',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { ids: { type: 'array', items: TASK_ID, minItems: 1, maxItems: 10_000 }, all: { type: 'boolean', const: true }, queue: QUEUE },
          oneOf: [{ required: ['ids'] }, { required: ['all'] }],
        },
      },
    },
    async (req) => {
      const { ids, all, queue } = req.body;
      const replayed = await app.deadLetters.replay(all ? { all: true, queue } : { ids, queue });
      return { replayed };
    },
  );

  fastify.post<{ Body: { queue?: string } }>(
    '/api/dlq/purge',
    { preValidation: emptyBodyIsObject, schema: { body: { type: 'object', additionalProperties: false, properties: { queue: QUEUE } } } },
    async (req) => ({ removed: await app.deadLetters.purge(req.body.queue) }),
  );

  fastify.post<{ Body: { task: string; rate: string | null } }>(
    '/api/rate-limit',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['task', 'rate'],
          properties: { task: { type: 'string', minLength: 1, maxLength: 200 }, rate: { type: ['string', 'null'], maxLength: 32 } },
        },
      },
    },
    async (req) => {
      await app.control.rateLimit(req.body.task, req.body.rate);
      return { task: req.body.task, rate: req.body.rate };
    },
  );
}
