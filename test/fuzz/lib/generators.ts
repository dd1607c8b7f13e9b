/**
 * Valid inputs for the decoder fuzzer, produced by the real encoders: task messages from
 * `encodeTask` (msgpack and JSON, with args, kwargs, user headers, trace context and workflow
 * continuations in the embed), control requests and replies, stored result and chord-join records.
 * The mutators start from these.
 */
import { type Codec, codecByName } from '../../../src/protocol/codec.ts';
import { CONTROL_COMMANDS } from '../../../src/protocol/control.ts';
import { type Embed, encodeTask } from '../../../src/protocol/envelope.ts';
import type { WorkflowJSON } from '../../../src/protocol/workflow-json.ts';
import type { Rng } from './seed.ts';

/** A message as a transport hands it over: headers (first value per name) and body. */
export interface Message {
  headers: Map<string, string>;
  body: Uint8Array;
}

/** What a seed input is, which says which entry points it feeds. */
export type SeedKind = 'task' | 'control-request' | 'control-reply' | 'result';

/** One valid input. */
export interface SeedInput {
  kind: SeedKind;
  codec: 'msgpack' | 'json';
  message: Message;
}

export const msgpack: Codec = codecByName('msgpack');
export const json: Codec = codecByName('json');
const utf8 = new TextEncoder();

/** Keys that matter to object handling (none of them `__proto__`: the mutators add that one). */
const KEYS = ['a', 'b', 'n', 'name', 'items', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'then', 'length', '__proto_', 'ü', '日本', ''];
const STRINGS = ['', 'x', 'hello world', 'crème brûlée 🍮', '日本語', '\u0000', '\ud83d\ude00', 'a'.repeat(40), '{"a":1}', '__proto__'];
const NUMBERS = [0, 1, -1, 127, 128, 255, 256, 65535, 65536, 2 ** 31, -(2 ** 31), 2 ** 32, 2 ** 53 - 1, -(2 ** 53), 0.5, -1.25, 1e300, 3.14159];

/** A random value; `binary` adds what only msgpack carries (Dates, byte arrays, undefined in arrays). */
export function value(r: Rng, depth: number, binary: boolean): unknown {
  const k = r.int(0, depth > 0 ? 11 : 7);
  switch (k) {
    case 0:
      return null;
    case 1:
      return r.chance(0.5);
    case 2:
    case 3:
      return r.pick(NUMBERS);
    case 4:
      return r.int(-1e6, 1e6);
    case 5:
    case 6:
      return r.pick(STRINGS);
    case 7:
      if (!binary) return r.pick(STRINGS);
      return r.chance(0.5) ? new Date(r.int(0, 4e12)) : Uint8Array.from({ length: r.int(0, 20) }, () => r.int(0, 255));
    case 8:
    case 9:
      return Array.from({ length: r.int(0, 5) }, () => value(r, depth - 1, binary));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(0, 5); i > 0; i--) o[r.pick(KEYS)] = value(r, depth - 1, binary);
      return o;
    }
  }
}

function kwargs(r: Rng, binary: boolean): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = r.int(0, 4); i > 0; i--) o[r.pick(KEYS)] = value(r, 3, binary);
  return o;
}

function taskName(r: Rng): string {
  return r.pick(['math.add', 'email.send', 'cpu.hash', 'celeriac.identity', 'a', 'x.y.z_1-2']);
}

/** A random signature or workflow, as the canvas writes it into an embed. */
export function workflow(r: Rng, depth: number, binary: boolean): WorkflowJSON {
  const k = depth > 0 ? r.int(0, 5) : 0;
  if (k <= 2) {
    const sig: WorkflowJSON = { task: taskName(r), args: [value(r, 2, binary)] };
    if (r.chance(0.3)) sig.kwargs = kwargs(r, binary);
    if (r.chance(0.3)) sig.options = { queue: 'default', countdown: r.int(0, 60), ...(r.chance(0.3) ? { link: [workflow(r, depth - 1, binary)] } : {}) };
    if (r.chance(0.2)) sig.immutable = true;
    return sig;
  }
  const tasks = Array.from({ length: r.int(1, 3) }, () => workflow(r, depth - 1, binary));
  if (k === 3) return { subtask_type: 'chain', tasks };
  if (k === 4) return { subtask_type: 'group', tasks };
  return { subtask_type: 'chord', header: tasks, body: workflow(r, depth - 1, binary) };
}

function embed(r: Rng, binary: boolean): Partial<Embed> | undefined {
  if (r.chance(0.4)) return undefined;
  const e: Partial<Embed> = {};
  if (r.chance(0.5)) e.chain = [workflow(r, 2, binary)];
  if (r.chance(0.3)) e.callbacks = [workflow(r, 1, binary)];
  if (r.chance(0.3)) e.errbacks = [workflow(r, 1, binary)];
  if (r.chance(0.3)) e.chord = { id: `chord-${r.int(0, 999)}`, index: 0, size: r.int(1, 4), body: workflow(r, 1, binary), allowPartial: r.chance(0.5) };
  return e;
}

const uuid = (r: Rng): string => {
  const h = (n: number): string => Array.from({ length: n }, () => r.int(0, 15).toString(16)).join('');
  return `${h(8)}-${h(4)}-4${h(3)}-a${h(3)}-${h(12)}`;
};

/** A valid task message from `encodeTask`. */
export function taskMessage(r: Rng, codec: Codec): Message {
  const binary = codec.name === 'msgpack';
  const id = uuid(r);
  const now = Date.UTC(2026, 10, 24);
  const t = encodeTask(
    {
      task: taskName(r),
      id,
      args: Array.from({ length: r.int(0, 4) }, () => value(r, 3, binary)),
      kwargs: r.chance(0.5) ? kwargs(r, binary) : undefined,
      rootId: r.chance(0.3) ? uuid(r) : undefined,
      parentId: r.chance(0.3) ? uuid(r) : undefined,
      group: r.chance(0.2) ? uuid(r) : undefined,
      retries: r.chance(0.2) ? r.int(1, 5) : 0,
      eta: r.chance(0.2) ? now + r.int(0, 1e6) : null,
      expires: r.chance(0.2) ? now + r.int(0, 1e6) : null,
      timelimit: r.chance(0.2) ? [r.int(1, 60), null] : undefined,
      origin: r.chance(0.5) ? '1234@host' : undefined,
      ignoreResult: r.chance(0.1),
      priority: r.chance(0.2) ? r.int(0, 9) : null,
      replyTo: r.chance(0.2) ? `_celeriac.reply.${r.int(0, 1e6)}` : null,
      idempotencyKey: r.chance(0.2) ? id : null,
      headers: r.chance(0.3) ? { 'x-tenant': r.pick(STRINGS.filter((s) => !s.includes('\n') && !s.includes('\u0000'))) } : undefined,
      embed: embed(r, binary),
    },
    codec,
  );
  const headers = new Map(Object.entries(t.headers));
  if (r.chance(0.3)) headers.set('traceparent', `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`);
  return { headers, body: t.body };
}

/** A valid control request (JSON). */
export function controlRequest(r: Rng): Message {
  const req: Record<string, unknown> = { command: r.pick(CONTROL_COMMANDS), arguments: r.chance(0.5) ? { n: r.int(1, 8), queue: 'default' } : {} };
  if (r.chance(0.3)) req.destination = [`w${r.int(0, 9)}@host`];
  return { headers: new Map(), body: utf8.encode(JSON.stringify(req)) };
}

/** A valid control reply (JSON). */
export function controlReply(r: Rng): Message {
  const rep = r.chance(0.7)
    ? { worker: 'w1@host', ok: true, result: value(r, 3, false) }
    : { worker: 'w1@host', ok: false, error: { code: 'E_BUSY', message: 'busy' } };
  return { headers: new Map(), body: utf8.encode(JSON.stringify(rep)) };
}

/** A stored result record, or a chord-join record, in either codec (read back with `decodeSniffed`). */
export function resultRecord(r: Rng, codec: Codec): Message {
  const binary = codec.name === 'msgpack';
  const rec = r.chance(0.8)
    ? {
        status: r.pick(['SUCCESS', 'FAILURE', 'STARTED', 'RETRY', 'REVOKED']),
        taskId: uuid(r),
        name: taskName(r),
        result: value(r, 3, binary),
        error: r.chance(0.3) ? { name: 'Error', message: 'boom', code: 'E_X', stack: 'Error: boom\n    at x' } : null,
        traceback: null,
        dateDone: new Date(Date.UTC(2026, 0, 1)).toISOString(),
        meta: r.chance(0.2) ? kwargs(r, binary) : null,
        children: [],
        worker: 'w1@host',
        attempts: r.int(1, 3),
        attempt: { sequence: r.int(1, 1e6), delivery: 1 },
      }
    : { outcomes: Array.from({ length: r.int(1, 4) }, () => ({ ok: true, value: value(r, 2, binary) })) };
  return { headers: new Map(), body: codec.encode(rec) };
}

/** A pool of `n` valid inputs of every kind, drawn from `r`. */
export function seedPool(r: Rng, n: number): SeedInput[] {
  const pool: SeedInput[] = [];
  for (let i = 0; i < n; i++) {
    const c = r.chance(0.5) ? msgpack : json;
    const codec = c.name;
    switch (i % 6) {
      case 0:
      case 1:
      case 2:
        pool.push({ kind: 'task', codec, message: taskMessage(r, c) });
        break;
      case 3:
        pool.push({ kind: 'control-request', codec: 'json', message: controlRequest(r) });
        break;
      case 4:
        pool.push({ kind: 'control-reply', codec: 'json', message: controlReply(r) });
        break;
      default:
        pool.push({ kind: 'result', codec, message: resultRecord(r, c) });
    }
  }
  return pool;
}
