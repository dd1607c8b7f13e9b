/**
 * Canvas against a real nats-server: the shared scenarios, then what needs processes or a raw
 * client: a chord of 1,000 whose worker is SIGKILLed in the middle, and a workflow written by hand
 * as JSON and published with a plain NATS client.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { type NatsConnection, connect, headers } from '@nats-io/transport-node';
import { type App, chord, createApp } from '../../src/index.ts';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { canvasScenarios } from '../helpers/canvas-scenarios.ts';
import { until } from '../helpers/failure-scenarios.ts';
import { type WorkerProcess, startWorkerProcess } from '../helpers/worker-process.ts';

let server: NatsServerHandle;
let nc: NatsConnection;
const MODULE = 'test/fixtures/canvas-tasks.ts';
const children: WorkerProcess[] = [];
const clients: App[] = [];
const dir = mkdtempSync(join(tmpdir(), 'celeriac-canvas-'));

let fixture: typeof import('../fixtures/canvas-tasks.ts');
before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  process.env.CANVAS_APP = 'canvasnats';
  process.env.CELERIAC_BROKER_URL = server.url;
  fixture = await import('../fixtures/canvas-tasks.ts');
});

after(async () => {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  for (const a of clients) await a.close();
  await nc.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('shared canvas scenarios on nats://', () => {
  canvasScenarios(() => fixture);
});

function worker(app: string, name: string, env: Record<string, string>): WorkerProcess {
  const w = startWorkerProcess({ broker: server.url, app, module: MODULE, env: { CANVAS_APP: app, CANVAS_ACK_WAIT: '2000', ...env }, args: ['-n', name, '-c', '16'] });
  children.push(w);
  return w;
}

function client(name: string): App {
  const a = createApp({ name, broker: server.url });
  clients.push(a);
  return a;
}

test('a chord of 1,000 with a worker SIGKILLed in the middle: the body runs exactly once with the 1,000 results in order', async () => {
  const appName = 'chordkill';
  const log = join(dir, 'chordkill.log');
  const w1 = worker(appName, 'w1', { CANVAS_LOG: log });
  const w2 = worker(appName, 'w2', { CANVAS_LOG: log });
  await Promise.all([w1.ready, w2.ready]);
  const app = client(appName);
  const header = Array.from({ length: 1000 }, (_, i) => app.signature('canvas.slow', [i, 15]));
  const r = await chord(header, app.signature<number[]>('canvas.logged')).applyAsync();
  // Kill one worker while the header is half done: its in-flight members come back after AckWait.
  await until(async () => (await (r.parent as import('../../src/index.ts').GroupResult).completedCount()) >= 300, 30_000, '300 members done');
  w1.proc.kill('SIGKILL');
  await w1.exited;
  const values = await r.get({ timeout: '60s' });
  assert.deepEqual(
    values,
    Array.from({ length: 1000 }, (_, i) => i),
  );
  await new Promise((res) => setTimeout(res, 3000)); // past AckWait: a late duplicate would have run by now
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  assert.equal(lines.length, 1, `the body ran once, not ${lines.length} times:\n${lines.join('\n')}`);
  assert.ok(lines[0]?.startsWith(`${r.id} 1000 `));
});

test('a workflow written by hand as JSON and published with a plain NATS client runs', async () => {
  const appName = 'rawflow';
  const w = worker(appName, 'raw', {});
  await w.ready;
  const finalId = `raw-final-${randomUUID()}`;
  // add(2, 2) -> chord([add(4, 1), add(4, 2)], tsum) -> add(tsum, 100), as docs/protocol.md describes it.
  const body = JSON.stringify([
    [2, 2],
    {},
    {
      callbacks: null,
      errbacks: null,
      chord: null,
      chain: [
        { subtask_type: 'chord', header: [{ task: 'math.add', args: [1] }, { task: 'math.add', args: [2] }], body: { task: 'math.tsum', args: [] } },
        { task: 'math.add', args: [100], options: { taskId: finalId } },
      ],
    },
  ]);
  const id = randomUUID();
  const h = headers();
  h.set('task', 'math.add');
  h.set('id', id);
  h.set('content-type', 'application/json');
  h.set('Nats-Msg-Id', id);
  const js = jetstream(nc);
  await js.publish(`${appName}.tasks.default`, new TextEncoder().encode(body), { headers: h });
  const app = client(appName);
  assert.equal(await app.asyncResult(finalId).get({ timeout: '15s' }), 5 + 6 + 100);
  assert.equal(await app.asyncResult(id).get({ timeout: '1s' }), 4);
});
