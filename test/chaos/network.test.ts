/**
 * Chaos R5: network faults between workers and the broker. Each worker process connects through its
 * own TCP fault proxy; in seeded windows one worker's link gets +200 ms latency, a blackhole (a
 * partition that heals) or a reset, while keyed and unkeyed tasks flow. Pass: 0 lost, 0 duplicate
 * effects among keyed tasks, and the queue drains once the network is healthy again.
 * Fast tier: 2k tasks, 6 windows of 4 s. Full tier: 20k tasks, 12 windows of 10 s.
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
import { drained, runDirs, sleep, summary, windowed } from './lib/run.ts';
import { type ProxyMode, type TcpProxy, startTcpProxy } from './lib/tcp-proxy.ts';

const FULL = fullTier();
const N = FULL ? 20_000 : 2_000;
const WINDOWS = FULL ? 12 : 6;
const WINDOW_MS = FULL ? 10_000 : 4_000;
const WORKERS = 3;
const ACK_WAIT_MS = 3_000;

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test(`network faults (latency, blackhole, reset) through a TCP proxy, ${WINDOWS} windows, ${N} tasks: 0 lost, 0 duplicate keyed effects`, { timeout: FULL ? 900_000 : 200_000 }, async () => {
  const t0 = Date.now();
  const r = scenarioRng('network');
  const server = await startNatsServer();
  cleanups.push(() => server.stop());
  const dirs = runDirs('network');
  cleanups.push(() => dirs.cleanup());
  const proxies: TcpProxy[] = [];
  for (let i = 0; i < WORKERS; i++) proxies.push(await startTcpProxy(server.port));
  cleanups.push(async () => {
    for (const p of proxies) await p.close();
  });
  const appName = 'chaosnet';
  const env = dirs.env({ CHAOS_ACK_WAIT: String(ACK_WAIT_MS), CHAOS_MAX_CRASHES: '5', CHAOS_MAX_DELIVER: '20' });
  const group = new WorkerGroup({ broker: (slot) => (proxies[slot] as TcpProxy).url, app: appName, env, args: ['-c', '8'] }, WORKERS);
  cleanups.push(() => group.stop());
  const client = createApp({ name: appName, broker: server.url, ackWait: ACK_WAIT_MS, maxDeliver: 20, maxCrashes: 5 });
  cleanups.push(() => client.close());
  await group.ready();

  const plan = Array.from({ length: N }, (_, i) => ({ id: `n${i}-${r.int(0, 1e9).toString(36)}`, ms: r.int(1, 20), keyed: r.chance(0.5) }));
  const faults: Array<{ slot: number; mode: ProxyMode }> = Array.from({ length: WINDOWS }, () => ({ slot: r.int(0, WORKERS - 1), mode: r.pick(['latency', 'blackhole', 'reset'] as const) }));
  const tasks: PublishedTask[] = plan.map((p) => ({ id: p.id, keyed: p.keyed, acked: false, expect: 'effect' }));
  const injector = (async () => {
    for (const f of faults) {
      const proxy = proxies[f.slot] as TcpProxy;
      proxy.setMode(f.mode, f.mode === 'latency' ? 200 : 0);
      await sleep(WINDOW_MS);
      proxy.setMode('pass');
    }
  })();
  const spacing = (WINDOWS * WINDOW_MS * 0.9) / N;
  const pubStart = Date.now();
  await windowed(N, 32, async (i) => {
    const p = plan[i] as (typeof plan)[number];
    const due = pubStart + i * spacing;
    if (due > Date.now()) await sleep(due - Date.now());
    try {
      await client.sendTask('chaos.io', [p.ms], p.keyed ? { idempotencyKey: p.id } : { taskId: p.id });
      (tasks[i] as PublishedTask).acked = true;
    } catch {
      /* unknown */
    }
  });
  await injector;
  const healedAt = Date.now();

  const nc = await connect({ servers: server.url });
  cleanups.push(() => nc.close());
  const jsm = await jetstreamManager(nc);
  await drained(jsm, appName, FULL ? 300_000 : 120_000, 'the queue drained after the network healed');
  const drainMs = Date.now() - healedAt;
  const events = readHistory(dirs.history);
  const dead = new Set((await client.deadLetters.list({ limit: 100_000 })).map((e) => e.taskId));
  const report = check({ tasks, events, effects: readEffects(dirs.effects), deadLetters: dead });
  const counts: Record<string, number> = {};
  for (const f of faults) counts[f.mode] = (counts[f.mode] ?? 0) + 1;
  summary({
    scenario: 'network-faults',
    tier: FULL ? 'full' : 'fast',
    seed: r.seed,
    tasks: N,
    faults: `${WINDOWS}x ${WINDOW_MS / 1000} s ${Object.entries(counts).map(([m, n]) => `${n} ${m}`).join(', ')}`,
    lost: report.counts.lost,
    dupExec: report.dupExec,
    dupEffect: report.dupEffectKeyed,
    verdict: report.pass ? 'pass' : 'FAIL',
    wallMs: Date.now() - t0,
    notes: `drained ${drainMs} ms after the last window; worker restarts ${group.restarts}; proxy connections ${proxies.map((p) => p.accepted).join('/')}; dup-effect-unkeyed=${report.dupEffectUnkeyed} dead-lettered=${dead.size} unknown=${report.counts.unknown}`,
  });
  assert.equal(report.counts.lost, 0, `lost: ${report.examples.lost.join(', ')}`);
  assert.equal(report.dupEffectKeyed, 0, `duplicate keyed effects: ${report.examples.duplicateEffect.join(', ')}`);
  assert.equal(report.strays, 0);
});
