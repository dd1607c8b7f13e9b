import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp, isInvalidArgumentError } from '../../../src/index.ts';
import { closestKey, unknownKeyMessage } from '../../../src/util/known-keys.ts';

const KNOWN = new Set(['concurrency', 'queues', 'cpuThreads', 'grace']);

test('the closest key is suggested for a typo, a case slip and a swap; nothing for an unrelated word', () => {
  assert.equal(closestKey('concurency', KNOWN), 'concurrency');
  assert.equal(closestKey('CPUThreads', KNOWN), 'cpuThreads');
  assert.equal(closestKey('qeueus', KNOWN), 'queues');
  assert.equal(closestKey('rateLimit', KNOWN), undefined);
  assert.equal(closestKey('q', KNOWN), undefined);
});

test('the message names the option, the suggestion and the options; none when every key is known', () => {
  assert.equal(unknownKeyMessage({ queues: [], grace: 1 }, KNOWN, 'worker options'), undefined);
  assert.equal(
    unknownKeyMessage({ queues: [], concurency: 4 }, KNOWN, 'worker options'),
    'worker options.concurency is not an option (did you mean "concurrency"?); the options are: concurrency, queues, cpuThreads, grace',
  );
  assert.match(unknownKeyMessage({ rateLimit: '10/s' }, KNOWN, 'task options') ?? '', /^task options\.rateLimit is not an option; the options are: /);
});

test('createApp, app.task, applyAsync, app.worker and retry options refuse a key that is not an option', async () => {
  const refuses = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => isInvalidArgumentError(e) && re.test(e.message));
  refuses(() => createApp({ name: 'k', brokr: 'memory://' } as never), /^createApp options\.brokr is not an option \(did you mean "broker"\?\)/);
  const app = createApp({ name: 'k', broker: 'memory://known-keys' });
  try {
    refuses(() => app.task('t1', async () => 1, { rateLimit: '10/s' } as never), /^task options\.rateLimit is not an option: rate limits are a plugin: app\.use\(rateLimit\(/);
    refuses(() => app.task('t1b', async () => 1, { maxRetries: 3 } as never), /^task options\.maxRetries is not an option: put it in the retry policy: \{ retry: \{ maxRetries \} \}$/);
    refuses(() => app.task('t2', async () => 1, { retry: { maxRetrys: 3 } as never }), /\.maxRetrys is not an option \(did you mean "maxRetries"\?\)/);
    refuses(() => app.worker({ concurency: 4 } as never), /^worker options\.concurency is not an option \(did you mean "concurrency"\?\)/);
    const t = app.task('t3', async () => 1);
    await assert.rejects(t.applyAsync([], { countdwn: '1s' } as never), (e: unknown) => isInvalidArgumentError(e) && /^applyAsync options\.countdwn is not an option \(did you mean "countdown"\?\)/.test(e.message));
  } finally {
    await app.close();
  }
});
