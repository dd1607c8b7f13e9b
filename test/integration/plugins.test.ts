/**
 * Plugins against a real nats-server with worker processes: a circuit opened through one worker
 * holds back the same dependency on another (cluster state), and the rate limiter's accuracy over
 * 30 s, local (one worker) and cluster-wide (two workers).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type App, createApp } from '../../src/index.ts';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { type WorkerProcess, startWorkerProcess } from '../helpers/worker-process.ts';
import { maxInWindow } from '../helpers/windows.ts';

let server: NatsServerHandle;
const children: WorkerProcess[] = [];
const clients: App[] = [];
const MODULE = 'test/fixtures/plugin-tasks.ts';

before(async () => {
  server = await startNatsServer();
});
after(async () => {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  for (const a of clients) await a.close();
  await server.stop();
});

function worker(app: string, name: string, env: Record<string, string>, queues?: string): WorkerProcess {
  const w = startWorkerProcess({ broker: server.url, app, module: MODULE, env: { PLUGIN_APP: app, ...env }, args: ['-n', name, '-c', '16', ...(queues ? ['-Q', queues] : [])] });
  children.push(w);
  return w;
}

function client(name: string): App {
  const a = createApp({ name, broker: server.url });
  clients.push(a);
  return a;
}


test('cluster circuit: failures through worker A open it; worker B then defers calls to the same dependency until half-open', async () => {
  const appName = 'breaker';
  const a = worker(appName, 'wa', { PLUGIN_SCOPE: 'cluster', PLUGIN_HALF_OPEN_AFTER: '3s' }, 'qa');
  const b = worker(appName, 'wb', { PLUGIN_SCOPE: 'cluster', PLUGIN_HALF_OPEN_AFTER: '3s' }, 'qb');
  await Promise.all([a.ready, b.ready]);
  const app = client(appName);
  for (let i = 0; i < 3; i++) {
    const r = await app.sendTask('dep.viaA', [true], { queue: 'qa' });
    await r.get({ timeout: '10s' }).catch(() => undefined);
  }
  const openedBy = Date.now();
  // Worker B never saw a failure: only the shared state can hold these back.
  const rs = await Promise.all(Array.from({ length: 5 }, () => app.sendTask<{ at: number; pid: number }>('dep.viaB', [false], { queue: 'qb' })));
  const out = await Promise.all(rs.map((r) => r.get({ timeout: '20s' })));
  for (const o of out) {
    assert.equal(o.pid, b.proc.pid, 'ran on worker B');
    assert.ok(o.at >= openedBy + 2500, `held back until the circuit half-opened (ran ${o.at - openedBy} ms after it opened)`);
  }
});

test('rate limit over 30 s: 10/s per worker locally, 10/s across two workers in cluster scope', async () => {
  const local = 'rl-local';
  const cluster = 'rl-cluster';
  const wl = worker(local, 'local-1', { PLUGIN_SCOPE: 'local', PLUGIN_RATE: '10/s' });
  const wc1 = worker(cluster, 'cluster-1', { PLUGIN_SCOPE: 'cluster', PLUGIN_RATE: '10/s' });
  const wc2 = worker(cluster, 'cluster-2', { PLUGIN_SCOPE: 'cluster', PLUGIN_RATE: '10/s' });
  await Promise.all([wl.ready, wc1.ready, wc2.ready]);
  const run = async (appName: string, n: number) => {
    const app = client(appName);
    const rs = await Promise.all(Array.from({ length: n }, (_, i) => app.sendTask<{ i: number; at: number; pid: number }>('limited.hit', [i])));
    return Promise.all(rs.map((r) => r.get({ timeout: '90s' })));
  };
  // 30 s of work at 10/s each.
  const [l, c] = await Promise.all([run(local, 300), run(cluster, 300)]);
  for (const [what, out] of [
    ['local', l],
    ['cluster', c],
  ] as const) {
    const times = out.map((o) => o.at);
    const span = Math.max(...times) - Math.min(...times);
    const max10 = maxInWindow(times, 10_000);
    // The limit over any 10 s window: 100, within 1 % plus one burst (1).
    assert.ok(max10 <= 100 * 1.01 + 1, `${what}: ${max10} starts in the busiest 10 s (limit 100 + 1 % + 1 burst)`);
    assert.ok(span >= 29_000 && span <= 33_000, `${what}: 300 tasks at 10/s took ${span} ms (~29.9 s)`);
  }
  const pids = new Set(c.map((o) => o.pid));
  assert.equal(pids.size, 2, 'both cluster workers ran tasks');
});
