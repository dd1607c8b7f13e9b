/**
 * Chaos R2: SIGKILL a random worker process every 3 s while mixed I/O and CPU tasks flow; a
 * supervisor (the harness) restarts it. Pass: 0 lost, 0 duplicate effects among keyed tasks, and
 * every task in flight on a killed worker acked within AckWait + 2 s of the kill (or, if the
 * process it was redelivered to is killed in turn before the ack, running again within that time:
 * the next kill is charged with the rest).
 * Fast tier: 3k tasks, kills for 24 s. Full tier (CELERIAC_CHAOS_FULL=1): 20k tasks, kills for 90 s.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createApp } from '../../src/index.ts';
import { startNatsServer } from '../../src/testing.ts';
import { type KillEvent, type PublishedTask, check, recovery } from './lib/checker.ts';
import { readEffects } from './lib/effects.ts';
import { readHistory } from './lib/history.ts';
import { fullTier, scenarioRng } from './lib/prng.ts';
import { WorkerGroup } from './lib/procs.ts';
import { ackMonitor, drained, runDirs, sleep, summary, windowed } from './lib/run.ts';

const FULL = fullTier();
const N = FULL ? 20_000 : 3_000;
const KILL_FOR_MS = FULL ? 90_000 : 24_000;
const KILL_EVERY_MS = 3_000;
const WORKERS = FULL ? 4 : 3;
const ACK_WAIT_MS = 3_000;

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test(`worker SIGKILL every 3 s for ${KILL_FOR_MS / 1000} s, ${N} mixed tasks: 0 lost, 0 duplicate keyed effects, in-flight tasks recovered within AckWait + 2 s of each kill`, { timeout: FULL ? 900_000 : 240_000 }, async () => {
  const t0 = Date.now();
  const r = scenarioRng('worker-kill');
  const server = await startNatsServer();
  cleanups.push(() => server.stop());
  const dirs = runDirs('worker-kill');
  cleanups.push(() => dirs.cleanup());
  const appName = 'chaoskill';
  const env = dirs.env({ CHAOS_ACK_WAIT: String(ACK_WAIT_MS), CHAOS_MAX_CRASHES: '3', CHAOS_MAX_DELIVER: '20' });
  const group = new WorkerGroup({ broker: server.url, app: appName, env, args: ['-c', '8'] }, WORKERS);
  cleanups.push(() => group.stop());
  const nc = await connect({ servers: server.url });
  cleanups.push(() => nc.close());
  const client = createApp({ name: appName, broker: server.url, ackWait: ACK_WAIT_MS, maxDeliver: 20, maxCrashes: 3 });
  cleanups.push(() => client.close());
  await group.ready();
  const monitor = ackMonitor(nc, `${appName}-tasks`);

  // The workload, drawn from the seed: 70% I/O 1-20 ms, 30% CPU 2-10 ms; half of them keyed.
  const plan = Array.from({ length: N }, (_, i) => ({
    id: `t${i}-${r.int(0, 1e9).toString(36)}`,
    cpu: r.chance(0.3),
    ms: 0,
    keyed: r.chance(0.5),
  }));
  for (const p of plan) p.ms = p.cpu ? r.int(2, 10) : r.int(1, 20);
  const killPlan = Array.from({ length: Math.floor(KILL_FOR_MS / KILL_EVERY_MS) }, () => r.int(0, WORKERS - 1));

  const tasks: PublishedTask[] = plan.map((p) => ({ id: p.id, keyed: p.keyed, acked: false, expect: 'effect' }));
  const kills: KillEvent[] = [];
  const killer = (async () => {
    for (const slot of killPlan) {
      await sleep(KILL_EVERY_MS);
      kills.push(await group.kill(slot));
    }
  })();
  // Publishes spread over 80% of the kill period.
  const spacing = (KILL_FOR_MS * 0.8) / N;
  const pubStart = Date.now();
  await windowed(N, 32, async (i) => {
    const p = plan[i] as (typeof plan)[number];
    const due = pubStart + i * spacing;
    if (due > Date.now()) await sleep(due - Date.now());
    try {
      await client.sendTask(p.cpu ? 'chaos.cpu' : 'chaos.io', [p.ms], p.keyed ? { idempotencyKey: p.id } : { taskId: p.id });
      (tasks[i] as PublishedTask).acked = true;
    } catch {
      /* unknown: the checker does not count it as lost */
    }
  });
  await killer;

  const jsm = await jetstreamManager(nc);
  await drained(jsm, appName, FULL ? 600_000 : 150_000, 'the queue drained');
  await sleep(500); // the last acks reach the monitor
  monitor.stop();

  const events = readHistory(dirs.history);
  const dead = new Set((await client.deadLetters.list({ limit: 100_000 })).map((e) => e.taskId));
  const report = check({ tasks, events, effects: readEffects(dirs.effects), deadLetters: dead });
  const limit = ACK_WAIT_MS + 2_000;
  const rec = recovery(kills, events, monitor.acks, limit);
  const wallMs = Date.now() - t0;
  const notes = `kills=${rec.kills} restarts=${group.restarts} in-flight-at-kills=${rec.inFlight} max-recovery=${rec.maxRecoveryMs}ms (limit ${limit}) late=${rec.late} unrecovered=${rec.unrecovered} dup-effect-unkeyed=${report.dupEffectUnkeyed} dead-lettered=${dead.size} unknown=${report.counts.unknown}`;
  const pass = report.pass && rec.late === 0 && rec.unrecovered === 0;
  summary({
    scenario: 'worker-kill',
    tier: FULL ? 'full' : 'fast',
    seed: r.seed,
    tasks: N,
    faults: `${kills.length}x worker SIGKILL`,
    lost: report.counts.lost,
    dupExec: report.dupExec,
    dupEffect: report.dupEffectKeyed,
    verdict: pass ? 'pass' : 'FAIL',
    wallMs,
    notes,
  });
  assert.equal(report.counts.lost, 0, `lost: ${report.examples.lost.join(', ')}`);
  assert.equal(report.dupEffectKeyed, 0, `duplicate keyed effects: ${report.examples.duplicateEffect.join(', ')}`);
  assert.equal(report.strays, 0);
  assert.ok(rec.inFlight > 0, 'the kills hit tasks in flight');
  assert.equal(rec.unrecovered, 0, 'every in-flight task of a killed worker was acked afterwards');
  assert.equal(rec.late, 0, `in-flight tasks acked later than ${limit} ms after the kill (max ${rec.maxRecoveryMs} ms)`);
});
