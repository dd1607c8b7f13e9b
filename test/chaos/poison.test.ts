/**
 * Chaos R9: poison among good tasks. Failing tasks (throw, no retry), undecodable messages (valid
 * `id` header, garbage body) and tasks that `process.exit()` their worker, mixed at random into a
 * paced stream of good tasks. Pass: every poison message is in the dead-letter stream with its
 * original bytes, every good task committed its effect, the workers keep serving (a worker killed
 * by `process.exit` is restarted by its supervisor, here the harness, as systemd would; crash
 * attribution then dead-letters the task), and the good tasks' p99 latency (publish to effect) grows
 * by at most 100 ms against the same run without poison.
 * Fast tier: 10 failing + 3 undecodable + 2 exiting among 1k. Full tier: 100 + 20 + 10 among 10k.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { createApp } from '../../src/index.ts';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { type PublishedTask, check } from './lib/checker.ts';
import { readEffects } from './lib/effects.ts';
import { readHistory } from './lib/history.ts';
import { type Rng, fullTier, scenarioRng } from './lib/prng.ts';
import { WorkerGroup } from './lib/procs.ts';
import { runDirs, sleep, summary, until, windowed } from './lib/run.ts';

const FULL = fullTier();
const GOOD = FULL ? 10_000 : 1_000;
const FAILING = FULL ? 100 : 10;
const UNDECODABLE = FULL ? 20 : 3;
const EXITING = FULL ? 10 : 2;
const RATE_PER_S = 200;
const ACK_WAIT_MS = 3_000;
const WORKERS = 3;

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

type Kind = 'good' | 'fail' | 'undecodable' | 'exit';

interface RunResult {
  p99: number;
  p50: number;
  report: ReturnType<typeof check>;
  restarts: number;
  dlq: Map<string, { reason: string; body: Uint8Array }>;
  published: Map<string, Uint8Array>;
  kinds: Map<string, Kind>;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

async function runOnce(server: NatsServerHandle, appName: string, r: Rng, poison: boolean): Promise<RunResult> {
  const dirs = runDirs(appName);
  cleanups.push(() => dirs.cleanup());
  const plan: Kind[] = Array.from({ length: GOOD }, () => 'good' as Kind);
  if (poison) {
    const bad: Kind[] = [...Array<Kind>(FAILING).fill('fail'), ...Array<Kind>(UNDECODABLE).fill('undecodable'), ...Array<Kind>(EXITING).fill('exit')];
    for (const k of bad) plan.splice(r.int(0, plan.length), 0, k);
  }
  const ids = plan.map((k, i) => `${k[0]}${i}-${r.int(0, 1e9).toString(36)}`);
  const kinds = new Map(ids.map((id, i) => [id, plan[i] as Kind]));
  // maxCrashes 1: a redelivery after a crash runs alone in a quarantine thread, so a task that
  // exits its process kills one worker, not two (with two, both workers can be down at once).
  const group = new WorkerGroup({ broker: server.url, app: appName, env: dirs.env({ CHAOS_ACK_WAIT: String(ACK_WAIT_MS), CHAOS_MAX_CRASHES: '1' }), args: ['-c', '8'] }, WORKERS);
  cleanups.push(() => group.stop());
  const client = createApp({ name: appName, broker: server.url, ackWait: ACK_WAIT_MS, maxCrashes: 1 });
  cleanups.push(() => client.close());
  const nc = await connect({ servers: server.url });
  cleanups.push(() => nc.close());
  const js = jetstream(nc);
  // Every message as published (a core subscription sees what JetStream stores): the original bytes.
  const published = new Map<string, Uint8Array>();
  nc.subscribe(`${appName}.tasks.>`, {
    callback: (_e, m) => {
      published.set(m.headers?.get('id') ?? '', m.data);
    },
  });
  await group.ready();
  const sentAt = new Map<string, number>();
  const tasks: PublishedTask[] = ids.map((id) => ({ id, keyed: false, acked: false, expect: kinds.get(id) === 'good' ? 'effect' : 'dead-letter' }));
  const t0 = Date.now();
  await windowed(ids.length, 16, async (i) => {
    const due = t0 + (i * 1000) / RATE_PER_S;
    if (due > Date.now()) await sleep(due - Date.now());
    const id = ids[i] as string;
    const kind = plan[i] as Kind;
    sentAt.set(id, Date.now());
    if (kind === 'undecodable') {
      const h = natsHeaders();
      h.set('id', id);
      await js.publish(`${appName}.tasks.default`, randomBytes(r.int(1, 64)), { msgID: id, headers: h });
    } else {
      await client.sendTask(kind === 'good' ? 'chaos.io' : kind === 'fail' ? 'chaos.fail' : 'chaos.exit', kind === 'good' ? [1] : kind === 'fail' ? ['boom'] : [], { taskId: id });
    }
    (tasks[i] as PublishedTask).acked = true;
  });
  const bad = plan.length - GOOD;
  const jsm = await jetstreamManager(nc);
  const dlqOf = async () => new Map((await client.deadLetters.list({ limit: 100_000 })).map((e) => [e.taskId, { reason: String(e.reason), body: e.raw.body }]));
  await until(async () => (await dlqOf()).size >= bad && (await jsm.streams.info(`${appName}-tasks`)).state.messages === 0, 180_000, `${appName}: all poison dead-lettered and the queue empty`);
  const events = readHistory(dirs.history);
  const dlq = await dlqOf();
  const report = check({ tasks, events, effects: readEffects(dirs.effects), deadLetters: new Set(dlq.keys()) });
  const effectAt = new Map(events.filter((e) => e.t === 'effect').map((e) => [e.id, e.at]));
  const lat = ids.filter((id) => kinds.get(id) === 'good').map((id) => (effectAt.get(id) ?? Infinity) - (sentAt.get(id) ?? 0));
  const restarts = group.restarts;
  await group.stop();
  return { p99: quantile(lat, 0.99), p50: quantile(lat, 0.5), report, restarts, dlq, published, kinds };
}

test(`poison: ${FAILING} failing + ${UNDECODABLE} undecodable + ${EXITING} exiting among ${GOOD}: all dead-lettered with their bytes, good p99 +<= 100 ms`, { timeout: FULL ? 900_000 : 240_000 }, async () => {
  const t0 = Date.now();
  const r = scenarioRng('poison');
  const server = await startNatsServer();
  cleanups.push(() => server.stop());
  const base = await runOnce(server, 'chaosclean', r, false);
  const bad = await runOnce(server, 'chaospoison', r, true);
  const poisonIds = [...bad.kinds].filter(([, k]) => k !== 'good').map(([id]) => id);
  const missing = poisonIds.filter((id) => !bad.dlq.has(id));
  const wrongBytes = poisonIds.filter((id) => {
    const a = bad.dlq.get(id)?.body;
    const b = bad.published.get(id);
    return !a || !b || Buffer.compare(Buffer.from(a), Buffer.from(b)) !== 0;
  });
  const goodDeadLettered = [...bad.dlq.keys()].filter((id) => bad.kinds.get(id) === 'good');
  const reasons: Record<string, number> = {};
  for (const id of poisonIds) {
    const k = `${bad.kinds.get(id)}->${bad.dlq.get(id)?.reason}`;
    reasons[k] = (reasons[k] ?? 0) + 1;
  }
  const growth = bad.p99 - base.p99;
  const pass = missing.length === 0 && wrongBytes.length === 0 && goodDeadLettered.length === 0 && bad.report.pass && base.report.pass && growth <= 100;
  summary({
    scenario: 'poison',
    tier: FULL ? 'full' : 'fast',
    seed: r.seed,
    tasks: GOOD + poisonIds.length,
    faults: `${FAILING} failing + ${UNDECODABLE} undecodable + ${EXITING} process.exit`,
    lost: bad.report.counts.lost,
    dupExec: bad.report.dupExec,
    dupEffect: bad.report.dupEffectKeyed,
    verdict: pass ? 'pass' : 'FAIL',
    wallMs: Date.now() - t0,
    notes: `good p99 ${base.p99} -> ${bad.p99} ms (+${growth}), p50 ${base.p50} -> ${bad.p50} ms; dead-lettered ${poisonIds.length - missing.length}/${poisonIds.length} ${JSON.stringify(reasons)}; wrong bytes ${wrongBytes.length}; worker restarts ${bad.restarts} (clean run ${base.restarts})`,
  });
  assert.deepEqual(missing, [], 'every poison message is in the dead-letter stream');
  assert.deepEqual(wrongBytes, [], 'with its original bytes');
  assert.deepEqual(goodDeadLettered, [], 'no good task was dead-lettered');
  assert.equal(bad.report.counts.lost, 0);
  assert.equal(base.report.counts.lost, 0);
  assert.equal(base.restarts, 0, 'no worker died in the clean run');
  assert.ok(bad.restarts <= EXITING, `a process.exit task kills at most 1 worker before it is dead-lettered (restarts: ${bad.restarts})`);
  assert.ok(growth <= 100, `good tasks' p99 grew by ${growth} ms (clean ${base.p99} ms, with poison ${bad.p99} ms)`);
});
