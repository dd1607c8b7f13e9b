/**
 * The `celeriac` binary: call --wait, result, and clear errors for bad input.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { startWorkerProcess } from '../helpers/worker-process.ts';
import { cli } from '../helpers/cli.ts';

let server: NatsServerHandle;
let worker: ReturnType<typeof startWorkerProcess>;


before(async () => {
  server = await startNatsServer();
  worker = startWorkerProcess({ broker: server.url, app: 'cli', args: ['-c', '4', '--max-tasks-per-thread', '500', '--max-memory-per-thread', '256'] });
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
  assert.match(out, /--- concurrency: 4 slots, \d+ cpu threads \(each recycled after 500 tasks or 256 MiB\)/);
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

test('celeriac call --wait and result --wait print the task\'s state updates to stderr as they happen (not with --no-progress); stdout keeps its JSON', async () => {
  const r = await cli(['call', 'test.stages', '--args', '[1500]', '--wait', '--app-name', 'cli', '-b', server.url]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { id: string; state: string; result: string };
  assert.deepEqual([out.state, out.result], ['SUCCESS', 'uploaded']);
  assert.match(r.stderr, new RegExp(`^celeriac: ${out.id} UPLOADING \\{"part":1\\}$`, 'm'));
  assert.doesNotMatch(r.stderr, /SUCCESS/, 'the final state is stdout\'s');
  const quiet = await cli(['call', 'test.stages', '--args', '[1500]', '--wait', '--no-progress', '--app-name', 'cli', '-b', server.url]);
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal((JSON.parse(quiet.stdout) as { result: string }).result, 'uploaded');
  assert.doesNotMatch(quiet.stderr, /UPLOADING/);
  // Held long enough that a second CLI process, started after this one returns, sees it running.
  const sent = await cli(['call', 'test.stages', '--args', '[5000]', '--app-name', 'cli', '-b', server.url]);
  const id = sent.stdout.trim();
  const waited = await cli(['result', id, '--wait', '--app-name', 'cli', '-b', server.url]);
  assert.equal(waited.code, 0, waited.stderr);
  assert.equal((JSON.parse(waited.stdout) as { result: string }).result, 'uploaded');
  assert.match(waited.stderr, new RegExp(`^celeriac: ${id} UPLOADING \\{"part":1\\}$`, 'm'));
});

test('celeriac call of a failing task exits 1 and prints the remote error', async () => {
  const r = await cli(['call', 'test.boom', '--args', '["bad input"]', '--wait', '--app-name', 'cli', '-b', server.url]);
  assert.equal(r.code, 1);
  const out = JSON.parse(r.stdout) as { state: string; error: { name: string; message: string } };
  assert.equal(out.state, 'FAILURE');
  assert.equal(out.error.name, 'TypeError');
  assert.equal(out.error.message, 'bad input');
});

test('call --wait and result --wait that run out of --timeout print the state, say so in one line and exit 124', async () => {
  const common = ['--app-name', 'cli', '-b', server.url];
  // A queue no worker consumes: the task stays PENDING. `--timeout 1000` is milliseconds.
  const r = await cli(['call', 'math.add', '--args', '[1, 2]', '-Q', 'nobody-waits', '--wait', '--timeout', '1000', ...common]);
  assert.equal(r.code, 124, r.stderr);
  const out = JSON.parse(r.stdout) as { id: string; state: string };
  assert.deepEqual(out, { id: out.id, state: 'PENDING' });
  assert.match(r.stderr, new RegExp(`^celeriac: E_TIMEOUT: task ${out.id} did not finish within 1s \\(state PENDING\\); it may still run: wait longer with celeriac result ${out.id} --wait`, 'm'));
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  const waited = await cli(['result', out.id, '--wait', '--timeout', '500ms', ...common]);
  assert.equal(waited.code, 124, waited.stderr);
  assert.equal((JSON.parse(waited.stdout) as { status: string }).status, 'PENDING');
  assert.match(waited.stderr, new RegExp(`^celeriac: E_TIMEOUT: task ${out.id} did not finish within 500ms \\(state PENDING\\)`, 'm'));
  assert.doesNotMatch(waited.stderr, /^\s+at /m, 'no stack trace');
});

test('a bad --timeout of call --wait exits 2 naming the flag and sends nothing', async () => {
  const r = await cli(['call', 'math.add', '--args', '[1, 2]', '--wait', '--timeout', 'a minute', '--app-name', 'cli', '-b', server.url]);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '', 'no task id: nothing was sent');
  assert.match(r.stderr, /^celeriac: --timeout must be milliseconds or a string like '250ms', '30s', '5m', '1h', got "a minute"$/m);
});

test('celeriac call with no app named says which app it talks to', async () => {
  const r = await cli(['call', 'math.add', '--args', '[1, 2]', '-b', server.url]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout.trim(), /^[0-9a-f-]{36}$/);
  assert.match(r.stderr, /no -A, --app-name or CELERIAC_APP: talking to the app named 'celeriac'/);
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

test('celeriac dlq list|show|replay|purge and control revoke', async () => {
  const common = ['--app-name', 'cli', '-b', server.url];
  const failed = await cli(['call', 'test.boom', '--args', '["for the dlq"]', '--wait', ...common]);
  assert.equal(failed.code, 1);
  const id = (JSON.parse(failed.stdout) as { id: string }).id;

  const list = await cli(['dlq', 'list', '--json', ...common]);
  assert.equal(list.code, 0, list.stderr);
  const entries = JSON.parse(list.stdout) as Array<{ taskId: string; reason: string; task: string; error: { name: string } }>;
  const mine = entries.find((e) => e.taskId === id);
  assert.equal(mine?.reason, 'failed');
  assert.equal(mine?.task, 'test.boom');
  assert.equal(mine?.error.name, 'TypeError');

  const show = await cli(['dlq', 'show', id, ...common]);
  assert.equal(show.code, 0, show.stderr);
  assert.deepEqual((JSON.parse(show.stdout) as Array<{ args: unknown }>)[0]?.args, [['for the dlq'], {}, null]);
  assert.equal((await cli(['dlq', 'show', 'no-such-task', ...common])).code, 1);

  // Replay runs it again (it fails again, so a new dead letter appears for the same id).
  const replay = await cli(['dlq', 'replay', '--id', id, ...common]);
  assert.equal(replay.code, 0, replay.stderr);
  assert.equal(replay.stdout.trim(), id);
  const again = await cli(['result', id, '--wait', '--timeout', '10s', ...common]);
  assert.equal((JSON.parse(again.stdout) as { status: string }).status, 'FAILURE');
  const purge = await cli(['dlq', 'purge', ...common]);
  assert.equal(purge.code, 0, purge.stderr);
  assert.match(purge.stderr, /dead letter\(s\) removed/);
  assert.equal(JSON.parse((await cli(['dlq', 'list', '--json', ...common])).stdout).length, 0);
  assert.equal((await cli(['dlq', 'frobnicate', ...common])).code, 2, 'an unknown action is a usage error');

  // A task on a queue nobody consumes, revoked from the command line.
  const queued = await cli(['call', 'math.add', '--args', '[1, 1]', '-Q', 'nobody', ...common]);
  const qid = queued.stdout.trim();
  const rv = await cli(['control', 'revoke', qid, ...common]);
  assert.equal(rv.code, 0, rv.stderr);
  const rec = await cli(['result', qid, ...common]);
  assert.equal((JSON.parse(rec.stdout) as { status: string }).status, 'REVOKED');
  assert.equal(rec.code, 1, 'a revoked task exits 1, as call --wait does');
  const waited = await cli(['result', qid, '--wait', '--timeout', '10s', ...common]);
  assert.equal(waited.code, 1, waited.stderr);
  assert.equal((JSON.parse(waited.stdout) as { status: string }).status, 'REVOKED');
});

test('celeriac call --countdown schedules; inspect scheduled lists it, and marks it once revoked', async () => {
  const common = ['--app-name', 'cli', '-b', server.url];
  const r = await cli(['call', 'math.add', '--args', '[2, 2]', '--countdown', '1h', ...common]);
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  const rec = await cli(['result', id, ...common]);
  assert.equal((JSON.parse(rec.stdout) as { status: string }).status, 'SCHEDULED');
  const listed = await cli(['inspect', 'scheduled', '--json', ...common]);
  assert.equal(listed.code, 0, listed.stderr);
  const rows = JSON.parse(listed.stdout) as Array<{ id: string; task: string; queue: string; eta: string; revoked: boolean }>;
  const mine = rows.find((x) => x.id === id);
  assert.equal(mine?.task, 'math.add');
  assert.equal(mine?.revoked, false);
  assert.ok(Date.parse(mine?.eta ?? '') > Date.now() + 3_500_000);
  // Revoked, it stays in the delayed stream until its eta: listed as such.
  assert.equal((await cli(['control', 'revoke', id, ...common])).code, 0);
  const after = JSON.parse((await cli(['inspect', 'scheduled', '--json', ...common])).stdout) as Array<{ id: string; revoked: boolean }>;
  assert.equal(after.find((x) => x.id === id)?.revoked, true);
  const text = await cli(['inspect', 'scheduled', ...common]);
  assert.match(text.stdout, new RegExp(`${id}  math\\.add  \\(revoked: skipped when due\\)`));
  assert.equal((await cli(['call', 'math.add', '--eta', 'tomorrow', ...common])).code, 2, 'a bad --eta is a usage error');
});
