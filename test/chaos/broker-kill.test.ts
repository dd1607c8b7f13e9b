/**
 * Chaos R3: SIGKILL nats-server (and restart it on the same store directory) again and again while
 * producers publish keyed tasks; a publish that fails is retried with the same task id (the broker
 * deduplicates on `Nats-Msg-Id`). Pass: every acknowledged task is in the stream, none is stored
 * twice; after workers drained the queue (with one more broker kill during the drain), every
 * acknowledged task committed its effect once and the stream is empty. Messages left in the stream
 * although the consumer's ack floor covers them are the 2.9 "zombie" WorkQueue case
 * (docs/reliability.md) and are reported apart.
 * Fast tier: 3 kills during 5k publishes. Full tier: 8 kills during 50k publishes.
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
import { runDirs, sleep, summary, until, windowed } from './lib/run.ts';

const FULL = fullTier();
const N = FULL ? 50_000 : 5_000;
const KILLS = FULL ? 8 : 3;
const KILL_EVERY_MS = FULL ? 6_000 : 4_000;

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test(`nats-server SIGKILL ${KILLS}x during ${N} retried publishes: 0 acknowledged tasks lost, 0 duplicate entries, stream empty after drain`, { timeout: FULL ? 900_000 : 200_000 }, async () => {
  const t0 = Date.now();
  const r = scenarioRng('broker-kill');
  const server = await startNatsServer();
  cleanups.push(() => server.stop());
  const dirs = runDirs('broker-kill');
  cleanups.push(() => dirs.cleanup());
  const appName = 'chaosbroker';
  const client = createApp({ name: appName, broker: server.url, ackWait: 3000 });
  cleanups.push(() => client.close());

  const ids = Array.from({ length: N }, (_, i) => `b${i}-${r.int(0, 1e9).toString(36)}`);
  const tasks: PublishedTask[] = ids.map((id) => ({ id, keyed: true, acked: false, expect: 'effect' }));
  // Kill k falls when a seeded share of the publishes is acknowledged (around (k+1)/(KILLS+1) of
  // them), so every kill lands inside the publishing whatever the machine's speed.
  const killPlan = Array.from({ length: KILLS }, (_, k) => ({
    at: Math.floor(((k + 1 + (r.next() - 0.5) * 0.6) / (KILLS + 1)) * N),
    down: r.int(1000, 3000),
  }));
  let down = false;
  let failedPublishes = 0;
  let ackedSoFar = 0;
  const ackedAtKill: number[] = [];
  let publishing = true;
  const killer = (async () => {
    for (const k of killPlan) {
      while (ackedSoFar < k.at && publishing) await sleep(20);
      if (!publishing) break;
      ackedAtKill.push(ackedSoFar);
      await server.kill('SIGKILL');
      down = true;
      await sleep(k.down);
      await server.restart();
      down = false;
    }
  })();
  // Publishes paced over about KILL_EVERY_MS per kill.
  const spacing = ((KILLS + 1) * KILL_EVERY_MS) / N;
  const pubStart = Date.now();
  await windowed(N, 64, async (i) => {
    const due = pubStart + i * spacing;
    if (due > Date.now()) await sleep(due - Date.now());
    for (let attempt = 0; attempt < 200; attempt++) {
      try {
        await client.sendTask('chaos.io', [1], { idempotencyKey: ids[i] });
        (tasks[i] as PublishedTask).acked = true;
        ackedSoFar++;
        return;
      } catch {
        failedPublishes++;
        await sleep(down ? 250 : 50);
      }
    }
  });
  publishing = false;
  await killer;

  // Every acknowledged task is stored once.
  assert.equal(ackedAtKill.length, KILLS, 'every kill happened');
  assert.ok(ackedAtKill.every((n) => n > 0 && n < N), 'every kill fell inside the publishing');
  const nc = await connect({ servers: server.url, maxReconnectAttempts: -1 });
  cleanups.push(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const stream = `${appName}-tasks`;
  const si = await jsm.streams.info(stream);
  const seqs = Array.from({ length: si.state.last_seq - si.state.first_seq + 1 }, (_, k) => si.state.first_seq + k);
  const stored = new Map<string, number>();
  await windowed(seqs.length, 64, async (k) => {
    try {
      const m = await jsm.streams.getMessage(stream, { seq: seqs[k] as number });
      const id = m?.header?.get('id') ?? '';
      stored.set(id, (stored.get(id) ?? 0) + 1);
    } catch {
      /* a deleted sequence */
    }
  });
  const ackedIds = tasks.filter((t) => t.acked).map((t) => t.id);
  const missing = ackedIds.filter((id) => !stored.has(id));
  const duplicates = [...stored.values()].filter((n) => n > 1).length;

  // Drain with workers; one more broker kill in the middle.
  const group = new WorkerGroup({ broker: server.url, app: appName, env: dirs.env({ CHAOS_ACK_WAIT: '3000' }), args: ['-c', '32'] }, 2);
  cleanups.push(() => group.stop());
  await group.ready();
  await until(async () => (await jsm.consumers.info(stream, 'default')).num_pending < si.state.messages / 2, 300_000, 'half drained');
  await server.kill('SIGKILL');
  await sleep(r.int(1000, 3000));
  await server.restart();
  await until(
    async () => {
      try {
        const ci = await jsm.consumers.info(stream, 'default');
        return ci.num_pending === 0 && ci.num_ack_pending === 0;
      } catch {
        return false;
      }
    },
    FULL ? 600_000 : 150_000,
    'drained',
  );
  await sleep(1000);
  const events = readHistory(dirs.history);
  const effects = readEffects(dirs.effects);
  const report = check({ tasks, events, effects, deadLetters: new Set((await client.deadLetters.list({ limit: 100_000 })).map((e) => e.taskId)) });
  // Messages left after the drain: "zombies" are at or below the consumer's ack floor (acked, their
  // removal lost by the broker crash) and already executed; anything else would be a real leftover.
  const left = await jsm.streams.info(stream);
  const ci = await jsm.consumers.info(stream, 'default');
  let zombies = 0;
  let leftovers = 0;
  if (left.state.messages > 0) {
    const range = Array.from({ length: left.state.last_seq - left.state.first_seq + 1 }, (_, k) => left.state.first_seq + k);
    await windowed(range.length, 64, async (k) => {
      const seq = range[k] as number;
      const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (!m) return; // deleted
      if (seq <= ci.ack_floor.stream_seq && effects.has(m.header?.get('id') ?? '')) zombies++;
      else leftovers++;
    });
  }
  // The workers' idle sweep (every 10 s) removes acked messages below the ack floor on 2.9.
  let emptyAfterMs = 0;
  const sweepStart = Date.now();
  await until(async () => (await jsm.streams.info(stream)).state.messages === 0, 40_000, 'the stream is empty (zombies swept)').catch(() => undefined);
  const after = await jsm.streams.info(stream);
  emptyAfterMs = Date.now() - sweepStart;
  const swept = group.all.reduce((n, w) => n + [...w.output().matchAll(/removed (\d+) acknowledged message/g)].reduce((a, m) => a + Number(m[1]), 0), 0);
  const pass = missing.length === 0 && duplicates === 0 && report.pass && leftovers === 0 && after.state.messages === 0;
  summary({
    scenario: 'broker-kill',
    tier: FULL ? 'full' : 'fast',
    seed: r.seed,
    tasks: N,
    faults: `${KILLS}x nats-server SIGKILL during publish + 1 during drain`,
    lost: missing.length + report.counts.lost,
    dupExec: report.dupExec,
    dupEffect: report.dupEffectKeyed,
    verdict: pass ? 'pass' : 'FAIL',
    wallMs: Date.now() - t0,
    notes: `acked-before-each-kill=[${ackedAtKill.join(',')}] acked=${ackedIds.length} unacked=${N - ackedIds.length} failed-publish-attempts=${failedPublishes} duplicate-stream-entries=${duplicates} stream-left-after-drain=${left.state.messages} (zombies=${zombies}, other=${leftovers}); zombies removed by the workers' sweep=${swept}, stream empty ${after.state.messages === 0 ? `${emptyAfterMs} ms later` : `NOT (${after.state.messages} left)`}`,
  });
  assert.deepEqual(missing.slice(0, 20), [], 'every acknowledged task was stored');
  assert.equal(duplicates, 0, 'no task stored twice');
  assert.equal(report.counts.lost, 0, `lost: ${report.examples.lost.join(', ')}`);
  assert.equal(report.dupEffectKeyed, 0);
  assert.equal(leftovers, 0, 'nothing but acked zombies left in the stream');
  assert.equal(after.state.messages, 0, 'the stream is empty once the workers swept the zombies');
});
