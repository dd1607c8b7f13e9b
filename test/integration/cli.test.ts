/**
 * The `celeriac` binary: call --wait, result, and clear errors for bad input.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { startWorkerProcess } from '../helpers/worker-process.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = `${ROOT}bin/celeriac.js`;
let server: NatsServerHandle;
let worker: ReturnType<typeof startWorkerProcess>;

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { cwd: ROOT, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

before(async () => {
  server = await startNatsServer();
  worker = startWorkerProcess({ broker: server.url, app: 'cli', args: ['-c', '4'] });
  await worker.ready;
});
after(async () => {
  worker.proc.kill('SIGTERM');
  await worker.exited;
  await server.stop();
});

test('the worker prints a banner naming broker, queues, concurrency and tasks', () => {
  const out = worker.output();
  assert.match(out, /--- broker:\s+nats:\/\/127\.0\.0\.1:\d+/);
  assert.match(out, /--- queues:\s+default/);
  assert.match(out, /--- concurrency: 4 slots/);
  assert.match(out, /\. cpu\.fib\s+\[cpu\]/);
  assert.match(out, /\. math\.add/);
});

test('celeriac call --wait prints the result; celeriac result prints the stored record', async () => {
  const r = await cli(['call', 'math.add', '--args', '[20, 22]', '--wait', '--app-name', 'cli', '-b', server.url]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { id: string; state: string; result: number };
  assert.equal(out.state, 'SUCCESS');
  assert.equal(out.result, 42);
  const rec = await cli(['result', out.id, '--app-name', 'cli', '-b', server.url]);
  assert.equal(rec.code, 0, rec.stderr);
  assert.equal((JSON.parse(rec.stdout) as { status: string; result: number }).result, 42);
});

test('celeriac call of a failing task exits 1 and prints the remote error', async () => {
  const r = await cli(['call', 'test.boom', '--args', '["bad input"]', '--wait', '--app-name', 'cli', '-b', server.url]);
  assert.equal(r.code, 1);
  const out = JSON.parse(r.stdout) as { state: string; error: { name: string; message: string } };
  assert.equal(out.state, 'FAILURE');
  assert.equal(out.error.name, 'TypeError');
  assert.equal(out.error.message, 'bad input');
});

test('bad input is refused with exit code 2 and a message naming it', async () => {
  const notJson = await cli(['call', 'math.add', '--args', '[1,', '--app-name', 'cli', '-b', server.url]);
  assert.equal(notJson.code, 2);
  assert.match(notJson.stderr, /--args must be JSON/);
  const badName = await cli(['call', 'no spaces allowed', '--app-name', 'cli', '-b', server.url]);
  assert.equal(badName.code, 2);
  assert.match(badName.stderr, /task name must be 1-200 characters/);
  const noModule = await cli(['worker', '-A', './does-not-exist.ts']);
  assert.equal(noModule.code, 2);
  assert.match(noModule.stderr, /-A \.\/does-not-exist\.ts: cannot import/);
});
