import { createInterface } from 'node:readline/promises';
import { InvalidArgumentError } from '../errors.ts';
import type { ControlCommand, ControlReply } from '../protocol/control.ts';
import { parseDuration } from '../util/duration.ts';
import { type ClientFlags, clientApp } from './call-command.ts';
import { durationFlag, formatDuration } from './flags.ts';
import { ProgressBar } from './progress.ts';

/** Flags of `celeriac inspect ...` and `celeriac control ...` (over request/reply). */
export interface ControlFlags extends ClientFlags {
  destination?: string;
  timeout?: string;
  json?: boolean;
}

function broadcastOptions(flags: ControlFlags): { destination?: string[]; timeout: number } {
  const destination = flags.destination
    ?.split(',')
    .map((d) => d.trim())
    .filter(Boolean);
  return { timeout: durationFlag(flags.timeout ?? '1s', '--timeout'), ...(destination && destination.length > 0 ? { destination } : {}) };
}

/** Print the replies; exit code 0 when at least one worker answered and none failed. */
function report(replies: Array<ControlReply<unknown>>, flags: ControlFlags, show: (result: unknown) => string[]): number {
  if (flags.json) {
    process.stdout.write(JSON.stringify(replies) + '\n');
  } else {
    for (const r of replies) {
      if (r.ok) {
        process.stdout.write(`-> ${r.worker}: OK\n`);
        for (const l of show(r.result)) process.stdout.write(`    ${l}\n`);
      } else {
        process.stdout.write(`-> ${r.worker}: ERROR ${r.error.code}: ${r.error.message}\n`);
      }
    }
  }
  if (replies.length === 0) {
    const within = formatDuration(broadcastOptions(flags).timeout);
    process.stderr.write(
      `celeriac: no worker replied within ${within}${flags.destination ? ` (destination ${flags.destination})` : ''}; check the app name and the broker, that a worker runs, or give it longer with --timeout\n`,
    );
    return 1;
  }
  if (!flags.json) process.stderr.write(`${replies.length} node(s) replied\n`);
  return replies.every((r) => r.ok) ? 0 : 1;
}

const INSPECT: Record<string, ControlCommand> = {
  ping: 'ping',
  active: 'active',
  reserved: 'reserved',
  registered: 'registered',
  stats: 'stats',
  'active-queues': 'active-queues',
  'scheduled-workers': 'scheduled',
};

function showList(result: unknown): string[] {
  if (!Array.isArray(result)) return [typeof result === 'string' ? result : JSON.stringify(result)];
  if (result.length === 0) return ['- empty -'];
  return result.map((item) => {
    if (typeof item !== 'object' || item === null) return String(item);
    const o = item as Record<string, unknown>;
    if ('runningMs' in o) return `${String(o.name)} ${String(o.id)} queue=${String(o.queue)} running=${String(o.runningMs)}ms delivery=${String(o.delivery)} args=${String(o.args)}`;
    if ('waitingMs' in o) return `${String(o.name)} ${String(o.id)} queue=${String(o.queue)} waiting=${String(o.waitingMs)}ms args=${String(o.args)}`;
    if ('ackWaitMs' in o) return `${String(o.queue)} ackWait=${String(o.ackWaitMs)}ms maxDeliver=${String(o.maxDeliver)}${o.bands ? ' priorities' : ''}${o.paused ? ' PAUSED' : ''}`;
    if ('kind' in o) return `${String(o.name)} [${String(o.kind)}]`;
    return JSON.stringify(o);
  });
}

function showObject(result: unknown): string[] {
  return JSON.stringify(result, null, 2).split('\n');
}

/** `celeriac inspect ping|active|reserved|registered|stats|active-queues [-d w1,w2] [--timeout 1s] [--json]`. */
export async function runInspect(what: string, flags: ControlFlags): Promise<number> {
  const command = INSPECT[what];
  if (!command) throw new InvalidArgumentError(`inspect: unknown command ${JSON.stringify(what)}`);
  const options = broadcastOptions(flags);
  const app = await clientApp(flags);
  try {
    const replies = await app.control.broadcast(command, {}, options);
    return report(replies, flags, command === 'stats' || command === 'scheduled' ? showObject : showList);
  } finally {
    await app.close();
  }
}

/** Positive integer from a CLI argument. */
function positiveInt(v: string | undefined, what: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

/** Seconds from a CLI argument (`none`/`off` = no limit). */
function seconds(v: string, what: string): number | null {
  if (v === 'none' || v === 'off') return null;
  const n = Number(v);
  if (Number.isFinite(n) && n > 0) return n;
  const ms = parseDuration(v, what);
  if (ms <= 0) throw new InvalidArgumentError(`${what} must be above 0`);
  return ms / 1000;
}

/**
 * `celeriac control time-limit|shutdown|pool-grow|pool-shrink|add-consumer|cancel-consumer ... [-d w1,w2]`.
 * @param positional the command's arguments as given on the command line.
 */
export async function runControl(command: ControlCommand, positional: string[], flags: ControlFlags & { pool?: string }): Promise<number> {
  const options = broadcastOptions(flags);
  let args: Record<string, unknown>;
  switch (command) {
    case 'time-limit': {
      const [task, soft, hard] = positional;
      if (!task || soft === undefined) throw new InvalidArgumentError('control time-limit <task> <soft> [hard]: give the task name and the soft limit');
      // Without [hard] no `hard` is sent: the workers keep the hard limit in force (null would remove it).
      args = { task, soft: seconds(soft, 'soft'), ...(hard === undefined ? {} : { hard: seconds(hard, 'hard') }) };
      break;
    }
    case 'pool-grow':
    case 'pool-shrink': {
      const pool = flags.pool ?? 'io';
      if (pool !== 'io' && pool !== 'cpu') throw new InvalidArgumentError(`--pool must be io or cpu, got ${JSON.stringify(pool)}`);
      args = { n: positiveInt(positional[0], 'n', 1), pool };
      break;
    }
    case 'add-consumer':
    case 'cancel-consumer': {
      const queue = positional[0];
      if (!queue) throw new InvalidArgumentError(`control ${command} <queue>: give the queue`);
      args = { queue };
      break;
    }
    case 'shutdown':
      args = {};
      break;
    default:
      throw new InvalidArgumentError(`control: unknown command ${JSON.stringify(command)}`);
  }
  const app = await clientApp(flags);
  try {
    const replies = await app.control.broadcast(command, args, options);
    return report(replies, flags, (r) => [typeof r === 'string' ? r : JSON.stringify(r)]);
  } finally {
    await app.close();
  }
}

/** `celeriac status`: nodes, queues with depth, dead letters, delayed tasks. */
export async function runStatus(flags: ClientFlags & { json?: boolean }): Promise<number> {
  const app = await clientApp(flags);
  try {
    const [workers, queues, dlq, delayed] = await Promise.all([
      app.workers(),
      app.queueStats(),
      app.deadLetters.list({ limit: 1_000_000 }),
      app.transport().delayed().then((d) => d.count()),
    ]);
    const dead = new Map<string, number>();
    for (const e of dlq) dead.set(e.queue, (dead.get(e.queue) ?? 0) + 1);
    const consumers = (q: string) => workers.filter((w) => w.online && w.queues.some((x) => x === q || q.startsWith(`${x}--`))).length;
    const rows = [...new Set([...queues.map((q) => q.queue), ...dead.keys()])].sort().map((name) => {
      const q = queues.find((x) => x.queue === name);
      return { queue: name, depth: q?.depth ?? 0, inFlight: q?.inFlight ?? 0, redelivered: q?.redelivered ?? 0, consumers: consumers(name), deadLetters: dead.get(name) ?? 0 };
    });
    if (flags.json) {
      process.stdout.write(JSON.stringify({ workers, queues: rows, deadLetters: dlq.length, delayed }) + '\n');
      return 0;
    }
    const now = Date.now();
    const online = workers.filter((w) => w.online);
    process.stdout.write(`app ${app.name} on ${app.transport().url}\n\nnodes: ${online.length} online, ${workers.length - online.length} offline\n`);
    for (const w of workers) {
      const beat = ((now - w.heartbeatAt) / 1000).toFixed(1);
      process.stdout.write(
        `  ${w.online ? 'ONLINE ' : 'OFFLINE'} ${w.name.padEnd(30)} pid=${w.pid} active=${w.active}/${w.concurrency} queues=${w.queues.join(',')} ok=${w.succeeded} failed=${w.failed} heartbeat=${beat}s ago\n`,
      );
    }
    process.stdout.write(`\n${'queue'.padEnd(24)} ${'depth'.padStart(8)} ${'in flight'.padStart(10)} ${'consumers'.padStart(10)} ${'dead'.padStart(8)}\n`);
    for (const r of rows) {
      process.stdout.write(`${r.queue.padEnd(24)} ${String(r.depth).padStart(8)} ${String(r.inFlight).padStart(10)} ${String(r.consumers).padStart(10)} ${String(r.deadLetters).padStart(8)}\n`);
    }
    if (rows.length === 0) process.stdout.write('  (no queues yet)\n');
    process.stdout.write(`\ndead letters: ${dlq.length}   delayed tasks: ${delayed}\n`);
    return 0;
  } finally {
    await app.close();
  }
}

/** `celeriac purge -Q q1,q2 [--force]`: asks for confirmation on a terminal unless `--force`. */
export async function runPurge(flags: ClientFlags & { queues?: string; force?: boolean }): Promise<number> {
  const queues = (flags.queues ?? '')
    .split(',')
    .map((q) => q.trim())
    .filter(Boolean);
  if (queues.length === 0) throw new InvalidArgumentError('purge: give the queues with -Q <queue>[,<queue>...]');
  const app = await clientApp(flags);
  try {
    const stats = await Promise.all(queues.map((q) => app.queueStats(q).then((s) => s[0])));
    const total = stats.reduce((n, s) => n + (s ? s.depth + s.inFlight : 0), 0);
    if (!flags.force) {
      if (!process.stdin.isTTY) {
        process.stderr.write(`purge: refusing to delete ${total} message(s) from ${queues.join(', ')} without confirmation; stdin is not a terminal, so pass --force\n`);
        return 2;
      }
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      const answer = await rl.question(`Delete ${total} message(s) from queue(s) ${queues.join(', ')} of app ${app.name}? This cannot be undone. [y/N] `);
      rl.close();
      if (!/^y(es)?$/i.test(answer.trim())) {
        process.stderr.write('purge: cancelled, nothing deleted\n');
        return 1;
      }
    }
    const bar = new ProgressBar('purging');
    let removed = 0;
    for (const [i, q] of queues.entries()) {
      bar.update(i, queues.length);
      removed += await app.purge(q);
    }
    bar.update(queues.length, queues.length);
    bar.done(`purged ${removed} message(s) from ${queues.join(', ')}`);
    return 0;
  } finally {
    await app.close();
  }
}
