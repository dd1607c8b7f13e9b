/** `celeriac events`, `celeriac inspect workers` and `celeriac control disable-events` against a real nats-server. */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type App, createApp } from '../../src/index.ts';
import { type NatsServerHandle, silentLogger, startNatsServer } from '../../src/testing.ts';
import { until } from '../helpers/failure-scenarios.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = `${ROOT}bin/celeriac.js`;
let server: NatsServerHandle;
let app: App;
before(async () => {
  server = await startNatsServer();
  app = createApp({ name: 'clievents', broker: server.url });
});
after(async () => {
  await app.close();
  await server.stop();
});

test('celeriac events prints live events (JSON, filtered by type); inspect workers lists the node; control disable-events switches them off', async () => {
  const t = app.task('cli.t', async () => 1);
  const w = app.worker({ concurrency: 2, logger: silentLogger, name: 'cli-node' });
  await w.start();
  const proc = spawn(process.execPath, [BIN, 'events', '--app-name', 'clievents', '-b', server.url, '--json', '--type', 'task-succeeded'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  try {
    await until(() => err.includes('listening for events'), 15_000, 'events command listening');
    const r = await t.delay();
    await r.get({ timeout: '5s' });
    await until(() => out.includes(r.id), 5000, 'the event printed');
    const line = JSON.parse(out.trim().split('\n').find((l) => l.includes(r.id)) as string) as { type: string; task: string; worker: string };
    assert.deepEqual({ type: line.type, task: line.task, worker: line.worker }, { type: 'task-succeeded', task: 'cli.t', worker: 'cli-node' });

    const inspect = await promisify(execFile)(process.execPath, [BIN, 'inspect', 'workers', '--app-name', 'clievents', '-b', server.url], { cwd: ROOT, timeout: 30_000 });
    assert.match(inspect.stdout, /^online\s+cli-node\s+pid \d+\s+queues default/m);

    await promisify(execFile)(process.execPath, [BIN, 'control', 'disable-events', '--app-name', 'clievents', '-b', server.url], { cwd: ROOT, timeout: 30_000 });
    await until(() => !w.eventsEnabled, 5000, 'switched off by the CLI');
    await app.control.events(true);
  } finally {
    proc.kill('SIGINT');
    await w.stop();
  }
});
