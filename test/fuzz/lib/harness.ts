/**
 * The decoder fuzzer's loop and oracle. Each case takes a valid input from the seed pool, mutates
 * it and feeds it to the entry point a worker or client uses for that kind of bytes. A case passes
 * when the entry point returns a well-formed value (no own `__proto__` key, ordinary prototypes,
 * serialisable by `JSON.stringify`) or throws a `DecodeError`, in under 100 ms. Anything else is a
 * failure, reported with the seed and case number that replay it.
 */
import { isDecodeError } from '../../../src/errors.ts';
import { decodeSniffed } from '../../../src/protocol/codec.ts';
import { decodeControlReply, decodeControlRequest } from '../../../src/protocol/control.ts';
import { type TaskMessage, decodeTask } from '../../../src/protocol/envelope.ts';
import { type Message, type SeedInput, json, msgpack } from './generators.ts';
import { hostileJson, hostileMsgpack, mutateBytes, mutateHeaders, withHole } from './mutators.ts';
import { type Rng, caseRng, randomBytes } from './seed.ts';

/** The decoding entry points under test. */
export type Entry = 'decodeTask' | 'msgpack.decode' | 'json.decode' | 'decodeSniffed' | 'decodeControlRequest' | 'decodeControlReply';

/** Slowest a single case may be. */
export const MAX_CASE_MS = 100;

/** One failed case. */
export interface Failure {
  n: number;
  entry: Entry;
  problem: string;
  /** The input body (first 64 bytes, hex). */
  head: string;
  bytes: number;
}

/** What a run did. */
export interface FuzzReport {
  seed: number;
  cases: number;
  wallMs: number;
  maxCaseMs: number;
  /** The slowest case (replay it with CELERIAC_FUZZ_CASE). */
  slowest: { n: number; entry: Entry; bytes: number } | null;
  rssGrowthMb: number;
  byEntry: Record<string, { ok: number; rejected: number }>;
  failures: Failure[];
}

const allowedProtos = new Set<unknown>([Object.prototype, Array.prototype, Date.prototype, Uint8Array.prototype, Buffer.prototype, null]);

/** Why a decoded value is not well formed, or null. Depth is bounded by the decoders (64). */
export function inspectValue(v: unknown, depth = 0): string | null {
  if (typeof v !== 'object' || v === null) return typeof v === 'bigint' || typeof v === 'function' || typeof v === 'symbol' ? `a ${typeof v} came out` : null;
  if (depth > 80) return 'nested deeper than the decoders allow';
  if (!allowedProtos.has(Object.getPrototypeOf(v))) return `an object with an unexpected prototype (${Object.prototype.toString.call(v)})`;
  if (Object.hasOwn(v, '__proto__')) return 'an own __proto__ key came out';
  if (v instanceof Uint8Array || v instanceof Date) return null;
  for (const k of Object.keys(v)) {
    const p = inspectValue((v as Record<string, unknown>)[k], depth + 1);
    if (p) return p;
  }
  return null;
}

/** What a worker does with a decoded task's arguments: none of it may change a prototype. */
function useTask(t: TaskMessage): string | null {
  const merged: Record<string, unknown> = Object.assign({}, t.kwargs, t.headers);
  const spread = { ...t.kwargs };
  const args = [...t.args, t.kwargs];
  if (Object.getPrototypeOf(merged) !== Object.prototype || Object.getPrototypeOf(spread) !== Object.prototype) return 'Object.assign/spread of kwargs changed a prototype';
  JSON.stringify({ args, kwargs: t.kwargs, embed: t.embed, headers: t.headers });
  return inspectValue([t.args, t.kwargs, t.embed]) ?? inspectValue(t.headers);
}

function call(entry: Entry, m: Message): unknown {
  switch (entry) {
    case 'decodeTask': {
      const t = decodeTask((k) => m.headers.get(k), m.headers.keys(), m.body);
      const p = useTask(t);
      if (p) throw new Error(p);
      return t;
    }
    case 'msgpack.decode':
      return msgpack.decode(m.body);
    case 'json.decode':
      return json.decode(m.body);
    case 'decodeSniffed':
      return decodeSniffed(m.body);
    case 'decodeControlRequest':
      return decodeControlRequest(m.body);
    case 'decodeControlReply':
      return decodeControlReply(m.body);
  }
}

/** Run one input through one entry point: 'ok', 'rejected' (a DecodeError) or a problem. */
function runOne(entry: Entry, m: Message): 'ok' | 'rejected' | { problem: string } {
  try {
    const v = call(entry, m);
    if (entry === 'decodeTask') return 'ok';
    JSON.stringify(v);
    const p = inspectValue(v);
    return p ? { problem: p } : 'ok';
  } catch (err) {
    if (entry !== 'decodeControlReply' && isDecodeError(err)) return 'rejected';
    return { problem: `threw ${(err as Error)?.name ?? typeof err}: ${String((err as Error)?.message ?? err).slice(0, 200)}` };
  }
}

/** Build case `n`: a mutated input and the entry point it goes to. */
export function buildCase(r: Rng, pool: readonly SeedInput[]): { entry: Entry; message: Message } {
  const s = r.pick(pool);
  const isJson = s.codec === 'json';
  const strategy = r.int(0, 9);
  let m: Message = { headers: new Map(s.message.headers), body: s.message.body };
  if (strategy === 0) {
    // random bytes to a raw codec
    const body = randomBytes(r, r.int(0, 256));
    if (r.chance(0.3)) body[0] = r.pick([0x7b, 0x5b, 0x91, 0x92, 0x93, 0xdc, 0xdd, 0x81]);
    return { entry: r.pick(['msgpack.decode', 'json.decode', 'decodeSniffed'] as const), message: { headers: new Map(), body } };
  }
  if (strategy <= 2 && s.kind === 'task') {
    // a hostile value inside an otherwise valid task message
    const codec = isJson ? json : msgpack;
    const hole = isJson ? new TextEncoder().encode(hostileJson(r)) : hostileMsgpack(r);
    m = withHole(r, codec, hole);
  } else {
    for (let i = r.int(1, 4); i > 0; i--) m.body = mutateBytes(r, m.body, r.pick(pool).message.body, isJson);
  }
  if (s.kind === 'task' && r.chance(0.3)) for (let i = r.int(1, 3); i > 0; i--) mutateHeaders(r, m.headers);
  const entry: Entry =
    s.kind === 'task'
      ? r.chance(0.8)
        ? 'decodeTask'
        : isJson
          ? 'json.decode'
          : 'msgpack.decode'
      : s.kind === 'control-request'
        ? 'decodeControlRequest'
        : s.kind === 'control-reply'
          ? 'decodeControlReply'
          : 'decodeSniffed';
  return { entry, message: m };
}

const rssMb = (): number => process.memoryUsage.rss() / 2 ** 20;

/**
 * Run `cases` cases (or only case `only`), printing a progress line every `progressEvery` cases.
 */
export function runFuzz(seed: number, pool: readonly SeedInput[], cases: number, opts: { only?: number; progressEvery?: number } = {}): FuzzReport {
  const report: FuzzReport = { seed, cases: 0, wallMs: 0, maxCaseMs: 0, slowest: null, rssGrowthMb: 0, byEntry: {}, failures: [] };
  const rss0 = rssMb();
  let rssMax = rss0;
  const t0 = performance.now();
  const first = opts.only ?? 0;
  const last = opts.only !== undefined ? opts.only + 1 : cases;
  for (let n = first; n < last; n++) {
    const { entry, message } = buildCase(caseRng(seed, n), pool);
    let start = performance.now();
    let outcome = runOne(entry, message);
    let ms = performance.now() - start;
    // A hang is a property of the input; a pause of a loaded machine (GC, another process) is not:
    // a slow case is timed twice more and counts by its fastest run.
    for (let again = 0; ms > MAX_CASE_MS && again < 2; again++) {
      start = performance.now();
      outcome = runOne(entry, message);
      ms = Math.min(ms, performance.now() - start);
    }
    if (ms > report.maxCaseMs) {
      report.maxCaseMs = ms;
      report.slowest = { n, entry, bytes: message.body.length };
    }
    const stats = (report.byEntry[entry] ??= { ok: 0, rejected: 0 });
    if (outcome === 'ok') stats.ok++;
    else if (outcome === 'rejected') stats.rejected++;
    const problem = typeof outcome === 'object' ? outcome.problem : ms > MAX_CASE_MS ? `took ${ms.toFixed(1)} ms` : null;
    if (problem && report.failures.length < 50) {
      report.failures.push({ n, entry, problem, head: Buffer.from(message.body.subarray(0, 64)).toString('hex'), bytes: message.body.length });
    }
    report.cases++;
    if (n % 1000 === 999) rssMax = Math.max(rssMax, rssMb());
    if (opts.progressEvery && (n + 1) % opts.progressEvery === 0) {
      const s = ((performance.now() - t0) / 1000).toFixed(0);
      console.log(`[fuzz] ${n + 1}/${cases} cases, ${s} s, max case ${report.maxCaseMs.toFixed(1)} ms, rss +${(rssMax - rss0).toFixed(0)} MB, ${report.failures.length} failures`);
    }
  }
  report.wallMs = performance.now() - t0;
  report.rssGrowthMb = Math.max(rssMax, rssMb()) - rss0;
  return report;
}

/** A failure as a line that says how to replay it. */
export function describeFailure(seed: number, f: Failure): string {
  return `case ${f.n} (${f.entry}, ${f.bytes} bytes ${f.head}…): ${f.problem} — replay: CELERIAC_FUZZ_SEED=${seed} CELERIAC_FUZZ_CASE=${f.n} node scripts/test.mjs test/fuzz/mutation.test.ts`;
}
