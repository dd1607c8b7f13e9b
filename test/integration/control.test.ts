/**
 * Remote control against two `celeriac worker` processes on a real nats-server: inspect ping,
 * active, registered, stats and active-queues; control pool-grow (io and cpu), add-consumer,
 * time-limit, shutdown; `-d` narrows to one node; `celeriac status` and `celeriac purge`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type App, createApp } from '../../src/index.ts';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { type WorkerProcess, startWorkerProcess } from '../helpers/worker-process.ts';
import { cli as run } from '../helpers/cli.ts';

const APP = 'ctl';
/** `celeriac <args>` for this file's app and server. */
const cli = (args: string[]) => run([...args, '--app-name', APP, '-b', server.url]);
let server: NatsServerHandle;
let app: App;
let alpha: WorkerProcess;
let beta: WorkerProcess;


interface Reply {
  worker: string;
  ok: boolean;
  result?: unknown;
  error?: { code: string; message: string };
}

/** Run a request/reply command with --json; `code` is the exit code expected (1 when a node answers with an error). */
async function json(args: string[], code = 0): Promise<Reply[]> {
  const r = await cli([...args, '--json', '--timeout', '5s']);
  assert.equal(r.code, code, `celeriac ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as Reply[];
}

before(async () => {
  server = await startNatsServer();
  app = createApp({ name: APP, broker: server.url });
  const common = { broker: server.url, app: APP };
  alpha = startWorkerProcess({ ...common, args: ['-n', 'alpha', '-c', '4', '--cpu-threads', '1', '--heartbeat', '500ms'] });
  // Eager CPU threads: a resize of a started pool warms new threads (the slow change tested below).
  beta = startWorkerProcess({ ...common, args: ['-n', 'beta', '-c', '4', '--cpu-threads', '1', '--cpu-start', 'eager', '--heartbeat', '500ms'] });
  await Promise.all([alpha.ready, beta.ready]);
});

after(async () => {
  for (const w of [alpha, beta]) if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
  await app.close();
  await server.stop();
});

test('inspect ping / registered / active-queues answer from both workers; -d narrows to one', async () => {
  const pings = await json(['inspect', 'ping']);
  assert.deepEqual(
    pings.map((r) => [r.worker, r.result]),
    [
      ['alpha', 'pong'],
      ['beta', 'pong'],
    ],
  );
  const one = await json(['inspect', 'ping', '-d', 'beta']);
  assert.deepEqual(one.map((r) => r.worker), ['beta']);
  const registered = await json(['inspect', 'registered', '-d', 'alpha']);
  const names = (registered[0]?.result as Array<{ name: string; kind: string }>).map((t) => `${t.name}:${t.kind}`);
  assert.ok(names.includes('math.add:io') && names.includes('cpu.fib:cpu'), names.join(','));
  const queues = await json(['inspect', 'active-queues']);
  for (const r of queues) assert.deepEqual((r.result as Array<{ queue: string }>).map((q) => q.queue), ['default']);
  // Text output, and a clear error when nobody answers.
  const text = await cli(['inspect', 'ping', '--timeout', '5s']);
  assert.match(text.stdout, /-> alpha: OK\n {4}pong/);
  const nobody = await cli(['inspect', 'ping', '-d', 'nobody', '--timeout', '300ms']);
  assert.equal(nobody.code, 1);
  assert.match(nobody.stderr, /^celeriac: no worker replied within 300ms \(destination nobody\); check the app name and the broker/m);
});

test('inspect active lists the running tasks of both workers (from code and from the CLI)', async () => {
  const sleepy = app.signature('test.sleep', [2500, 'a']);
  const rs = await Promise.all([0, 1, 2, 3].map(() => sleepy.clone().applyAsync()));
  const ids = new Set(rs.map((r) => r.id));
  const seen = new Set<string>();
  const workers = new Set<string>();
  for (let i = 0; i < 50 && seen.size < 4; i++) {
    for (const r of await app.control.inspect({ timeout: '3s' }).active()) {
      if (!r.ok) continue;
      for (const t of r.result) {
        if (ids.has(t.id)) {
          seen.add(t.id);
          workers.add(r.worker);
          assert.equal(t.name, 'test.sleep');
          assert.equal(t.args, '[2500,"a"]');
        }
      }
    }
    if (seen.size < 4) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(seen.size, 4, 'all four running tasks are listed');
  const cliActive = await json(['inspect', 'active']);
  assert.equal(cliActive.length, 2);
  await Promise.all(rs.map((r) => r.get({ timeout: '20s' })));
  assert.ok(workers.size >= 1);
});

test('pool-grow grows the async slots of one node and the CPU threads of the other; stats shows it', async () => {
  const grown = await json(['control', 'pool-grow', '3', '-d', 'alpha']);
  assert.deepEqual(grown, [{ worker: 'alpha', ok: true, result: { pool: 'io', size: 7 } }]);
  const cpu = await json(['control', 'pool-grow', '1', '--pool', 'cpu', '-d', 'beta']);
  assert.deepEqual(cpu, [{ worker: 'beta', ok: true, result: { pool: 'cpu', size: 2 } }]);
  const stats = await json(['inspect', 'stats']);
  const pools = Object.fromEntries(stats.map((r) => [r.worker, (r.result as { pool: { io: { size: number }; cpu: { size: number } } }).pool]));
  assert.equal(pools.alpha?.io.size, 7);
  assert.equal(pools.beta?.io.size, 4);
  assert.equal(pools.beta?.cpu.size, 2);
  // CPU tasks still run on the resized pool.
  const r = await app.signature('cpu.fib', [20]).applyAsync();
  assert.deepEqual((await r.get({ timeout: '20s' }) as { value: number }).value, 6765);
  const shrink = await json(['control', 'pool-shrink', '5', '-d', 'beta'], 1);
  assert.equal(shrink[0]?.ok, false);
  assert.match(shrink[0]?.error?.message ?? '', /below 1/);
});

test('a question is answered while a slow change (CPU threads warming up) is still running', async () => {
  const t0 = Date.now();
  const grow = app.control.poolGrow(1, { pool: 'cpu', destination: ['beta'], timeout: '30s' }).then((r) => ({ r, ms: Date.now() - t0 }));
  await new Promise((r) => setTimeout(r, 20)); // the change is being applied
  const pong = await app.control.inspect({ destination: ['beta'], timeout: '10s' }).ping();
  const pingMs = Date.now() - t0;
  const grown = await grow;
  assert.deepEqual(pong.map((p) => p.ok && p.result), ['pong']);
  assert.deepEqual(grown.r, [{ worker: 'beta', ok: true, result: { pool: 'cpu', size: 3 } }]);
  assert.ok(pingMs < grown.ms, `ping answered after ${pingMs} ms, the resize after ${grown.ms} ms`);
});

test('add-consumer makes one node take another queue; status shows queues and nodes; purge asks, then empties', async () => {
  const before = await app.signature('test.sleep', [1, 'extra']).set({ queue: 'extra' }).applyAsync();
  const added = await json(['control', 'add-consumer', 'extra', '-d', 'beta']);
  assert.deepEqual(added, [{ worker: 'beta', ok: true, result: { consuming: ['default', 'extra'] } }]);
  const got = (await before.get({ timeout: '20s' })) as { worker: string };
  assert.equal(got.worker, 'beta');
  const cancelled = await json(['control', 'cancel-consumer', 'extra', '-d', 'beta']);
  assert.deepEqual(cancelled[0]?.result, { consuming: ['default'] });

  for (let i = 0; i < 3; i++) await app.signature('math.add', [i, i]).set({ queue: 'parked' }).applyAsync();
  const status = await cli(['status', '--json']);
  assert.equal(status.code, 0, status.stderr);
  const s = JSON.parse(status.stdout) as { workers: Array<{ name: string; online: boolean }>; queues: Array<{ queue: string; depth: number; consumers: number }> };
  assert.deepEqual(s.workers.filter((w) => w.online).map((w) => w.name), ['alpha', 'beta']);
  assert.deepEqual(s.queues.find((q) => q.queue === 'parked'), { queue: 'parked', depth: 3, inFlight: 0, redelivered: 0, consumers: 0, deadLetters: 0 });
  assert.equal(s.queues.find((q) => q.queue === 'default')?.consumers, 2);
  const table = await cli(['status']);
  assert.match(table.stdout, /ONLINE +alpha/);
  assert.match(table.stdout, /parked +3/);

  const refused = await cli(['purge', '-Q', 'parked']);
  assert.equal(refused.code, 2, 'no terminal, no --force: nothing deleted');
  assert.match(refused.stderr, /pass --force/);
  assert.equal((await app.queueStats('parked'))[0]?.depth, 3);
  const purged = await cli(['purge', '-Q', 'parked', '--force']);
  assert.equal(purged.code, 0, purged.stderr);
  assert.match(purged.stderr, /purged 3 message\(s\) from parked/);
  assert.equal((await app.queueStats('parked'))[0]?.depth, 0);
});

test('time-limit is set on the nodes; shutdown -d stops one worker process, the other keeps answering', async () => {
  const tl = await json(['control', 'time-limit', 'test.sleep', '30', '60']);
  assert.deepEqual(
    tl.map((r) => r.result),
    [
      { task: 'test.sleep', softMs: 30_000, hardMs: 60_000 },
      { task: 'test.sleep', softMs: 30_000, hardMs: 60_000 },
    ],
  );
  // Without [hard] the hard limit in force is kept; `none` removes it.
  const softOnly = await json(['control', 'time-limit', 'test.sleep', '20', '-d', 'beta']);
  assert.deepEqual(softOnly[0]?.result, { task: 'test.sleep', softMs: 20_000, hardMs: 60_000 });
  const stats = await json(['inspect', 'stats', '-d', 'beta']);
  assert.deepEqual((stats[0]?.result as { timeLimits: unknown }).timeLimits, { 'test.sleep': { softMs: 20_000, hardMs: 60_000 } });
  const tooLong = await json(['control', 'time-limit', 'test.sleep', '90', '-d', 'beta'], 1);
  assert.match(tooLong[0]?.error?.message ?? '', /argument "soft" must be below "hard" \(60 s\)/);
  const cleared = await json(['control', 'time-limit', 'test.sleep', '20', 'none', '-d', 'beta']);
  assert.deepEqual(cleared[0]?.result, { task: 'test.sleep', softMs: 20_000, hardMs: null });
  const bad = await json(['control', 'time-limit', 'test.sleep', '60', '30', '-d', 'alpha'], 1);
  assert.equal(bad[0]?.error?.code, 'E_INVALID_ARGUMENT');
  const bye = await json(['control', 'shutdown', '-d', 'alpha']);
  assert.deepEqual(bye, [{ worker: 'alpha', ok: true, result: 'shutting down' }]);
  assert.equal(await alpha.exited, 0, 'the worker process exits cleanly');
  const pings = await json(['inspect', 'ping']);
  assert.deepEqual(pings.map((r) => r.worker), ['beta']);
});
