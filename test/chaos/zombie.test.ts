/**
 * Chaos R6: a worker paused (SIGSTOP) in the middle of its tasks for longer than AckWait, then
 * resumed (SIGCONT): the broker redelivered its tasks to the other worker meanwhile. Each task in
 * flight on the paused worker is one trial. Pass, per trial: the effect is committed once, the stored
 * result is the redelivery's (the late worker's write is fenced out), and the late worker sends no
 * ack for its stale delivery (nats-server matches an ack to the stream sequence, so a late ack would
 * ack the redelivered copy: nats-server#4786). Pause length, pause point and the redelivery's run
 * time are drawn from the seed, so the late worker wakes before or after the redelivery finished.
 * Fast tier: >= 10 trials; full tier: >= 200.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createApp } from '../../src/index.ts';
import { startNatsServer } from '../../src/testing.ts';
import { type PublishedTask, check } from './lib/checker.ts';
import { readEffects } from './lib/effects.ts';
import { readHistory } from './lib/history.ts';
import { fullTier, scenarioRng } from './lib/prng.ts';
import { WorkerGroup } from './lib/procs.ts';
import { ackMonitor, runDirs, sleep, summary, until } from './lib/run.ts';

const FULL = fullTier();
const TRIALS = FULL ? 200 : 10;
const ACK_WAIT_MS = 2_000;
const PER_ROUND = 16;
const FIRST_MS = 2_500;

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test(`SIGSTOP a worker past AckWait, then SIGCONT (${TRIALS}+ trials): the late worker's result and ack are fenced out, 0 duplicate effects`, { timeout: FULL ? 900_000 : 200_000 }, async () => {
  const t0 = Date.now();
  const r = scenarioRng('zombie');
  const server = await startNatsServer();
  cleanups.push(() => server.stop());
  const dirs = runDirs('zombie');
  cleanups.push(() => dirs.cleanup());
  const appName = 'chaoszombie';
  const env = dirs.env({ CHAOS_ACK_WAIT: String(ACK_WAIT_MS), CHAOS_MAX_CRASHES: '5' });
  const group = new WorkerGroup({ broker: server.url, app: appName, env, args: ['-c', String(PER_ROUND)] }, 2);
  cleanups.push(() => group.stop());
  const nc = await connect({ servers: server.url });
  cleanups.push(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const client = createApp({ name: appName, broker: server.url, ackWait: ACK_WAIT_MS, maxCrashes: 5 });
  cleanups.push(() => client.close());
  await group.ready();
  const monitor = ackMonitor(nc, `${appName}-tasks`);

  const tasks: PublishedTask[] = [];
  // A trial: a task the paused worker held, redelivered to the other worker and claimed there
  // before the paused one woke up. (A redelivery can also reach the paused worker's own waiting
  // pull request; such tasks are counted apart, as `self-redelivered`.)
  const trials: Array<{ id: string; seq: number; pausedPid: number; contAt: number }> = [];
  let selfRedelivered = 0;
  let rounds = 0;
  while (trials.length < TRIALS) {
    rounds++;
    const ids = Array.from({ length: PER_ROUND }, (_, i) => `z${rounds}-${i}-${r.int(0, 1e9).toString(36)}`);
    await Promise.all(
      ids.map(async (id) => {
        const t: PublishedTask = { id, keyed: true, acked: false, expect: 'effect' };
        tasks.push(t);
        await client.sendTask('chaos.fenced', [FIRST_MS, r.int(0, 3000)], { idempotencyKey: id });
        t.acked = true;
      }),
    );
    const idSet = new Set(ids);
    await until(() => new Set(readHistory(dirs.history).filter((e) => e.t === 'start' && idSet.has(e.id)).map((e) => e.id)).size === ids.length, 20_000, `round ${rounds}: all started`);
    await sleep(r.int(0, 1000));
    const victim = group.worker(r.int(0, 1));
    const pid = victim.proc.pid ?? -1;
    const pausedAt = Date.now();
    victim.proc.kill('SIGSTOP');
    const events = readHistory(dirs.history);
    const ended = new Set(events.filter((e) => e.t === 'end' && e.pid === pid && idSet.has(e.id)).map((e) => e.id));
    const held = events.filter((e) => e.t === 'start' && e.pid === pid && e.dc === 1 && idSet.has(e.id) && !ended.has(e.id));
    await sleep(ACK_WAIT_MS + r.int(500, 3000));
    victim.proc.kill('SIGCONT');
    const contAt = Date.now();
    await until(
      async () => {
        const ci = await jsm.consumers.info(`${appName}-tasks`, 'default');
        return ci.num_pending === 0 && ci.num_ack_pending === 0;
      },
      30_000,
      `round ${rounds}: queue drained`,
    );
    const after = readHistory(dirs.history);
    for (const e of held) {
      if (after.some((x) => x.t === 'start' && x.id === e.id && x.dc > 1 && x.pid !== pid && x.at < contAt)) trials.push({ id: e.id, seq: e.seq, pausedPid: pid, contAt });
      else selfRedelivered++;
    }
    console.log(`[chaos] zombie round ${rounds}: paused pid ${pid} for ${contAt - pausedAt} ms holding ${held.length} tasks (${trials.length}/${TRIALS} trials)`);
  }
  await sleep(FIRST_MS + 1000); // every late worker finished its stale runs
  monitor.stop();

  const events = readHistory(dirs.history);
  const report = check({ tasks, events, effects: readEffects(dirs.effects), deadLetters: new Set() });
  let resultFenced = 0;
  const ackedLate: string[] = [];
  const wrongResult: string[] = [];
  for (const t of trials) {
    const info = await client.asyncResult(t.id).info();
    if (info.status === 'SUCCESS' && (info.attempt?.delivery ?? 0) > 1) resultFenced++;
    else wrongResult.push(`${t.id}: ${info.status} attempt ${info.attempt?.sequence}.${info.attempt?.delivery}`);
    if (monitor.acks.some((a) => a.seq === t.seq && a.dc === 1 && a.kind === 'ack')) ackedLate.push(t.id);
  }
  const si = await jsm.streams.info(`${appName}-tasks`);
  const pass = report.pass && wrongResult.length === 0 && ackedLate.length === 0 && si.state.messages === 0;
  summary({
    scenario: 'zombie-worker',
    tier: FULL ? 'full' : 'fast',
    seed: r.seed,
    tasks: tasks.length,
    faults: `${rounds}x SIGSTOP>AckWait+SIGCONT, ${trials.length} trials`,
    lost: report.counts.lost,
    dupExec: report.dupExec,
    dupEffect: report.dupEffectKeyed,
    verdict: pass ? 'pass' : 'FAIL',
    wallMs: Date.now() - t0,
    notes: `results fenced=${resultFenced} self-redelivered=${selfRedelivered} (not counted as trials) wrong-result=${wrongResult.length} late-acks=${ackedLate.length}`,
  });
  assert.equal(report.counts.lost, 0, `lost: ${report.examples.lost.join(', ')}`);
  assert.equal(report.dupEffectKeyed, 0, `duplicate effects: ${report.examples.duplicateEffect.join(', ')}`);
  assert.ok(trials.length >= TRIALS);
  assert.deepEqual(wrongResult, [], 'the stored result is the redelivery’s, not the late worker’s');
  assert.deepEqual(ackedLate, [], 'the late worker sent no ack for its stale delivery');
  assert.equal(si.state.messages, 0);
});
