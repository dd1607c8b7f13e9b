/**
 * Chaos, clustered broker (issue 9 item 7): a 3-node nats-server cluster on loopback with R3
 * streams and buckets (`streamReplicas: 3`); worker processes connect to every node. While tasks
 * flow, the node leading the task stream is SIGKILLed (then restarted), chosen afresh each round.
 * Pass: 0 acknowledged tasks lost, 0 duplicate effects among keyed tasks, and processing continues
 * (the queue drains while a node is down or after it rejoined).
 * Fast tier: 2k tasks, one kill. Full tier (CELERIAC_CHAOS_FULL=1): 10k tasks, three kills.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createApp } from '../../src/index.ts';
import { type NatsClusterNode, startNatsCluster } from '../../src/testing.ts';
import { type PublishedTask, check } from './lib/checker.ts';
import { readEffects } from './lib/effects.ts';
import { readHistory } from './lib/history.ts';
import { fullTier, scenarioRng } from './lib/prng.ts';
import { WorkerGroup } from './lib/procs.ts';
import { drained, runDirs, sleep, summary, windowed } from './lib/run.ts';

const FULL = fullTier();
const N = FULL ? 10_000 : 2_000;
const KILLS = FULL ? 3 : 1;
const ACK_WAIT_MS = 3_000;

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test(`3-node cluster, R3: the task stream's leader SIGKILLed ${KILLS}x during ${N} tasks: 0 lost, 0 duplicate keyed effects, processing continues`, { timeout: FULL ? 900_000 : 240_000 }, async (t) => {
  const t0 = Date.now();
  const r = scenarioRng('cluster');
  const cluster = await startNatsCluster({ size: 3 });
  cleanups.push(() => cluster.stop());
  const dirs = runDirs('cluster');
  cleanups.push(() => dirs.cleanup());
  const appName = 'chaoscluster';
  const client = createApp({ name: appName, broker: cluster.url, ackWait: ACK_WAIT_MS, streamReplicas: 3, maxDeliver: 20 });
  cleanups.push(() => client.close());
  await client.queueStats(); // creates the R3 task stream before the workers look for it
  const env = dirs.env({ CHAOS_ACK_WAIT: String(ACK_WAIT_MS), CHAOS_MAX_DELIVER: '20', CELERIAC_STREAM_REPLICAS: '3' });
  const group = new WorkerGroup({ broker: cluster.url, app: appName, env, args: ['-c', '8'] }, 2);
  cleanups.push(() => group.stop());
  await group.ready();
  const nc = await connect({ servers: cluster.url.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  cleanups.push(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const stream = `${appName}-tasks`;
  const leader = async (): Promise<NatsClusterNode> => {
    const name = (await jsm.streams.info(stream)).cluster?.leader;
    const node = cluster.nodes.find((n) => n.name === name);
    assert.ok(node, `no leader for ${stream} (${String(name)})`);
    return node;
  };

  const plan = Array.from({ length: N }, (_, i) => ({ id: `c${i}-${r.int(0, 1e9).toString(36)}`, ms: r.int(1, 10), keyed: r.chance(0.5) }));
  const tasks: PublishedTask[] = plan.map((p) => ({ id: p.id, keyed: p.keyed, acked: false, expect: 'effect' }));
  // Kill k happens once (k + 1) / (KILLS + 1) of the publishes are acknowledged; its node comes back
  // 3-5 s later, before the next kill (a 3-node R3 stream survives one node down, not two).
  const killAt = Array.from({ length: KILLS }, (_, k) => Math.floor(((k + 1) * N) / (KILLS + 1)));
  const killed: string[] = [];
  let acked = 0;
  let faults = Promise.resolve();
  await windowed(N, 32, async (i) => {
    const p = plan[i] as (typeof plan)[number];
    try {
      await client.sendTask('chaos.io', [p.ms], p.keyed ? { idempotencyKey: p.id } : { taskId: p.id });
      (tasks[i] as PublishedTask).acked = true;
      acked++;
    } catch {
      /* never acknowledged (e.g. no stream leader for 10 s): unknown, not lost */
    }
    if (killAt.includes(acked) && killed.length < killAt.indexOf(acked) + 1) {
      const round = killed.length;
      killed.push('?');
      faults = faults.then(async () => {
        const node = await leader();
        killed[round] = node.name;
        await node.kill('SIGKILL');
        await sleep(r.int(3_000, 5_000));
        await node.restart();
        await cluster.waitForLeader();
      });
    }
  });
  await faults;
  assert.equal(killed.length, KILLS, 'every planned kill happened');

  await drained(jsm, appName, FULL ? 600_000 : 150_000, 'the queue drained');
  const replicas = (await jsm.streams.info(stream)).config.num_replicas;
  const events = readHistory(dirs.history);
  const dead = new Set((await client.deadLetters.list({ limit: 100_000 })).map((e) => e.taskId));
  const report = check({ tasks, events, effects: readEffects(dirs.effects), deadLetters: dead });
  const wallMs = Date.now() - t0;
  const notes = `replicas=${replicas} killed=${killed.join(',')} acked=${acked}/${N} unknown=${report.counts.unknown} dead-lettered=${dead.size} worker-restarts=${group.restarts} dup-effect-unkeyed=${report.dupEffectUnkeyed}`;
  t.diagnostic(notes);
  summary({
    scenario: 'cluster',
    tier: FULL ? 'full' : 'fast',
    seed: r.seed,
    tasks: N,
    faults: `${KILLS}x stream-leader SIGKILL + restart`,
    lost: report.counts.lost,
    dupExec: report.dupExec,
    dupEffect: report.dupEffectKeyed,
    verdict: report.pass ? 'pass' : 'FAIL',
    wallMs,
    notes,
  });
  assert.equal(replicas, 3);
  assert.equal(report.counts.lost, 0, `lost: ${report.examples.lost.join(', ')}`);
  assert.equal(report.dupEffectKeyed, 0, `duplicate keyed effects: ${report.examples.duplicateEffect.join(', ')}`);
  assert.ok(acked >= N * 0.95, `most publishes acknowledged (${acked}/${N})`);
});
