/**
 * Plumbing shared by the chaos scenarios: a run's temporary directories, a monitor of the acks the
 * broker receives, bounded publishing, polling, and the summary line `scripts/chaos.mjs` collects.
 */
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { AckEvent } from './checker.ts';
import { ensureEffectsDir } from './effects.ts';
import { ensureHistoryDir } from './history.ts';

/** The directories of one scenario run (deleted by `cleanup()` unless CELERIAC_CHAOS_KEEP=1). */
export interface RunDirs {
  root: string;
  history: string;
  effects: string;
  /** CHAOS_* environment for the workers of this run. */
  env(extra?: Record<string, string>): Record<string, string>;
  cleanup(): void;
}

/** Fresh history and effect directories for scenario `name`. */
export function runDirs(name: string): RunDirs {
  const root = mkdtempSync(join(tmpdir(), `celeriac-chaos-${name}-`));
  const history = join(root, 'history');
  const effects = join(root, 'effects');
  ensureHistoryDir(history);
  ensureEffectsDir(effects);
  return {
    root,
    history,
    effects,
    env: (extra = {}) => ({ CHAOS_HISTORY: history, CHAOS_EFFECTS: effects, ...extra }),
    cleanup: () => {
      if (process.env.CELERIAC_CHAOS_KEEP === '1') console.log(`[chaos] ${name}: history kept in ${root}`);
      else rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * Record every ack the broker receives for `stream` (`$JS.ACK.<stream>.>`: a core subscription sees
 * the acks the workers publish, with the delivery count they name), with its arrival time.
 */
export function ackMonitor(nc: NatsConnection, stream: string): { acks: AckEvent[]; stop(): void } {
  const acks: AckEvent[] = [];
  const dec = new TextDecoder();
  const sub: Subscription = nc.subscribe(`$JS.ACK.${stream}.>`, {
    callback: (_err, m) => {
      // $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending> (2.9 form)
      const t = m.subject.split('.');
      const off = t.length >= 12 ? 4 : 2; // the 2.10+ form adds domain and account hash
      const dc = Number(t[off + 2]);
      const seq = Number(t[off + 3]);
      const body = dec.decode(m.data);
      const kind = body.startsWith('+ACK') || body === '' ? 'ack' : body.startsWith('-NAK') ? 'nak' : body.startsWith('+WPI') ? 'wpi' : body.startsWith('+TERM') ? 'term' : 'other';
      acks.push({ seq, dc, kind, at: Date.now() });
    },
  });
  return { acks, stop: () => sub.unsubscribe() };
}

/** Run `send(i)` for i in [0, n) with at most `window` in flight. */
export async function windowed<T>(n: number, window: number, send: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(window, n) }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await send(i);
      }
    }),
  );
  return out;
}

/** Poll `cond` every 100 ms until true; throws `what` after `timeoutMs`. */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Wait until the app's `default` queue is drained: nothing pending or awaiting an ack on its
 * consumer, and the WorkQueue stream empty (no acked message left behind).
 */
export async function drained(jsm: JetStreamManager, appName: string, timeoutMs: number, what = 'the queue drained'): Promise<void> {
  const stream = `${appName}-tasks`;
  await until(
    async () => {
      const [ci, si] = await Promise.all([jsm.consumers.info(stream, 'default'), jsm.streams.info(stream)]);
      return ci.num_pending === 0 && ci.num_ack_pending === 0 && si.state.messages === 0;
    },
    timeoutMs,
    what,
  );
}

/** One row of the chaos summary table. */
export interface SummaryRow {
  scenario: string;
  tier: 'fast' | 'full';
  seed: number;
  tasks: number;
  faults: string;
  lost: number;
  dupExec: number;
  dupEffect: number;
  verdict: 'pass' | 'FAIL';
  wallMs: number;
  /** Scenario-specific figures (latencies, RSS, zombies...). */
  notes: string;
}

/**
 * Print the scenario's summary row (`[chaos-summary] {json}`) and append it to the file named by
 * `CELERIAC_CHAOS_REPORT` (set by scripts/chaos.mjs, which prints the table).
 */
export function summary(row: SummaryRow): void {
  const line = JSON.stringify(row);
  console.log(`[chaos-summary] ${line}`);
  const file = process.env.CELERIAC_CHAOS_REPORT;
  if (file) appendFileSync(file, `${line}\n`);
}
