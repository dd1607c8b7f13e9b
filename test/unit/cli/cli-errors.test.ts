/**
 * What the `celeriac` binary prints and how it exits for expected errors, without a broker: usage
 * errors (exit 2, `celeriac: <message>`), duration flags in milliseconds, an unreachable broker and
 * a bad task id (one line, no stack), and `keys generate` refusing before it writes anything.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isInvalidArgumentError } from '../../../src/errors.ts';
import { durationFlag } from '../../../src/cli/flags.ts';
import { startWorkerProcess } from '../../helpers/worker-process.ts';
import { cli } from '../../helpers/cli.ts';

/** Nothing listens on port 1: connecting is refused at once. */
const DEAD = 'nats://127.0.0.1:1';


/** One line on stderr starting with `celeriac: `, and no stack frame. */
function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${stderr}`);
  assert.match(lines[0] ?? '', pattern);
  assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
}

describe('durationFlag', () => {
  test('digits alone are milliseconds; strings take a unit', () => {
    assert.equal(durationFlag('3000', '--timeout'), 3000);
    assert.equal(durationFlag('30s', '--timeout'), 30_000);
    assert.equal(durationFlag('5m', '--time-limit'), 300_000);
    assert.equal(durationFlag(undefined, '--countdown'), undefined);
  });

  test('a bad value is refused naming the flag', () => {
    for (const bad of ['soon', '-5', '3 000', '']) {
      assert.throws(
        () => durationFlag(bad, '--heartbeat'),
        (err: unknown) => isInvalidArgumentError(err) && err.message.startsWith('--heartbeat must be milliseconds or a string like'),
      );
    }
  });
});

describe('usage errors', () => {
  test('an unknown option, a missing required option and an unknown command exit 2 with `celeriac: <message>`', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['status', '--bogus'], /^celeriac: unknown option '--bogus'$/],
      [['purge', '--app-name', 'x'], /^celeriac: required option '-Q, --queues <list>' not specified$/],
      [['frobnicate'], /^celeriac: unknown command 'frobnicate'$/],
      [['call'], /^celeriac: missing required argument 'task'$/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      assert.equal(r.code, 2, `celeriac ${args.join(' ')}: ${r.stderr}`);
      assertOneLine(r.stderr, message);
    }
  });

  test('--help and --version still exit 0 and print to stdout', async () => {
    const help = await cli(['status', '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: celeriac status \[options\]/);
    const version = await cli(['--version']);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+/);
  });
});

describe('duration flags', () => {
  test('the worker takes --time-limit, --soft-time-limit and --heartbeat in milliseconds', async () => {
    const w = startWorkerProcess({ broker: 'memory://', app: 'cli-ms', args: ['--time-limit', '300000', '--soft-time-limit', '240000', '--heartbeat', '500'] });
    try {
      await w.ready;
    } finally {
      w.proc.kill('SIGTERM');
      await w.exited;
    }
  });

  test('a bad or inconsistent worker duration exits 2 naming the flag', async () => {
    const worker = ['worker', '-A', 'test/fixtures/it-tasks.ts', '-b', 'memory://'];
    const bad = await cli([...worker, '--time-limit', '5 minutes']);
    assert.equal(bad.code, 2, bad.stderr);
    assertOneLine(bad.stderr, /^celeriac: --time-limit must be milliseconds or a string like '250ms', '30s', '5m', '1h', got "5 minutes"$/);
    const order = await cli([...worker, '--time-limit', '1000', '--soft-time-limit', '2000']);
    assert.equal(order.code, 2, order.stderr);
    assertOneLine(order.stderr, /^celeriac: --soft-time-limit must be below --time-limit/);
    const beat = await cli([...worker, '--heartbeat', '10']);
    assert.equal(beat.code, 2, beat.stderr);
    assertOneLine(beat.stderr, /^celeriac: --heartbeat must be at least 100ms/);
  });

  test('call checks --timeout and --countdown before it connects or sends', async () => {
    const timeout = await cli(['call', 'math.add', '--wait', '--timeout', 'a while', '--app-name', 'x', '-b', DEAD]);
    assert.equal(timeout.code, 2, timeout.stderr);
    assertOneLine(timeout.stderr, /^celeriac: --timeout must be milliseconds or a string like/);
    const countdown = await cli(['call', 'math.add', '--countdown', 'later', '--app-name', 'x', '-b', DEAD]);
    assert.equal(countdown.code, 2, countdown.stderr);
    assertOneLine(countdown.stderr, /^celeriac: --countdown must be milliseconds/);
    const result = await cli(['result', 'some-id', '--wait', '--timeout', '1 minute', '--app-name', 'x', '-b', DEAD]);
    assert.equal(result.code, 2, result.stderr);
    assertOneLine(result.stderr, /^celeriac: --timeout must be milliseconds/);
    const inspect = await cli(['inspect', 'ping', '--timeout', 'soon', '--app-name', 'x', '-b', DEAD]);
    assert.equal(inspect.code, 2, inspect.stderr);
    assertOneLine(inspect.stderr, /^celeriac: --timeout must be milliseconds/);
  });
});

describe('broker and task id errors', () => {
  test('an unreachable broker is one line naming its URL, for every client command', async () => {
    for (const args of [['status'], ['call', 'math.add'], ['result', 'some-id'], ['inspect', 'ping'], ['dlq', 'list']]) {
      const r = await cli([...args, '--app-name', 'x', '-b', DEAD]);
      assert.equal(r.code, 1, `celeriac ${args.join(' ')}: ${r.stderr}`);
      assertOneLine(r.stderr, /^celeriac: cannot connect to nats:\/\/127\.0\.0\.1:1: .*(refused|ECONNREFUSED)/i);
    }
  });

  test('result of a malformed task id exits 2 with the task-id rule', async () => {
    const r = await cli(['result', 'not a valid id', '--app-name', 'x', '-b', DEAD]);
    assert.equal(r.code, 2, r.stderr);
    assertOneLine(r.stderr, /^celeriac: task id must be 1-200 characters of \[A-Za-z0-9_.:-\], got "not a valid id"$/);
  });
});

describe('keys generate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-keys-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('with one of the files present it writes none of them', async () => {
    writeFileSync(join(dir, 'prod.pub'), 'an older public key\n');
    const r = await cli(['keys', 'generate', '-o', dir, '--id', 'prod', '--aes']);
    assert.equal(r.code, 2, r.stderr);
    assertOneLine(r.stderr, /prod\.pub exists; nothing written; pass --force to overwrite/);
    assert.deepEqual(readdirSync(dir), ['prod.pub']);
    const forced = await cli(['keys', 'generate', '-o', dir, '--id', 'prod', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.ok(existsSync(join(dir, 'prod.key')));
  });
});

test('a client command on the default memory:// broker says that no worker sees what it does', async () => {
  const env = { ...process.env };
  delete env.CELERIAC_BROKER_URL;
  const { code, stdout, stderr } = await cli(['purge', '--app-name', 'cli-mem', '-Q', 'q', '--force'], env);
  assert.equal(code, 0, stderr);
  assert.match(stderr, /^celeriac: the broker is memory:\/\/ .*no worker sees what this command does$/m);
  assert.match(stdout + stderr, /purged 0 message/);
});
