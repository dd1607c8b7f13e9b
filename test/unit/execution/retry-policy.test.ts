import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_RETRY_POLICY, resolveRetryOptions, retryDelayMs, shouldAutoretry } from '../../../src/execution/retry-policy.ts';

class HttpError extends Error {}
class FetchError extends HttpError {}
class ValidationError extends Error {}

describe('retry policy', () => {
  test("defaults are Celery's: 3 retries, 3 minutes apart, no automatic retry", () => {
    assert.equal(DEFAULT_RETRY_POLICY.maxRetries, 3);
    assert.equal(retryDelayMs(DEFAULT_RETRY_POLICY, 1), 180_000);
    assert.equal(shouldAutoretry(DEFAULT_RETRY_POLICY, new Error('x')), false);
  });

  test('options written `as const` are accepted (readonly matcher lists) and match as given', () => {
    const policy = resolveRetryOptions({ autoretryFor: [HttpError], dontAutoretryFor: [ValidationError], maxRetries: 2 } as const);
    assert.equal(shouldAutoretry(policy, new FetchError('503')), true);
    assert.equal(shouldAutoretry(policy, new ValidationError('bad')), false);
  });

  test('curves: exponential, linear, fibonacci, capped at backoffMax, without jitter', () => {
    const base = { countdown: '1s', backoffMax: '10s', jitter: false } as const;
    const exp = resolveRetryOptions({ ...base, backoff: 'exponential' });
    assert.deepEqual([1, 2, 3, 4, 5].map((a) => retryDelayMs(exp, a)), [1000, 2000, 4000, 8000, 10_000]);
    const lin = resolveRetryOptions({ ...base, backoff: 'linear' });
    assert.deepEqual([1, 2, 3].map((a) => retryDelayMs(lin, a)), [1000, 2000, 3000]);
    const fib = resolveRetryOptions({ ...base, backoff: 'fibonacci' });
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((a) => retryDelayMs(fib, a)), [1000, 1000, 2000, 3000, 5000, 8000]);
    const fn = resolveRetryOptions({ backoff: (attempt) => attempt * 7 });
    assert.equal(retryDelayMs(fn, 3), 21);
  });

  test('full jitter draws between 0 and the computed delay', () => {
    const p = resolveRetryOptions({ backoff: 'exponential', countdown: 1000 });
    assert.equal(retryDelayMs(p, 3, () => 0.5), 2000);
    assert.equal(retryDelayMs(p, 3, () => 0), 0);
  });

  test('autoretryFor matches subclasses and predicates; dontAutoretryFor wins', () => {
    const p = resolveRetryOptions({ autoretryFor: [HttpError, (e) => (e as { code?: string }).code === 'ECONNRESET'], dontAutoretryFor: [ValidationError] });
    assert.equal(shouldAutoretry(p, new FetchError('503')), true);
    assert.equal(shouldAutoretry(p, Object.assign(new Error('reset'), { code: 'ECONNRESET' })), true);
    assert.equal(shouldAutoretry(p, new TypeError('bug')), false);
    const all = resolveRetryOptions({ autoretryFor: [Error], dontAutoretryFor: [ValidationError] });
    assert.equal(shouldAutoretry(all, new ValidationError('bad')), false);
    assert.equal(shouldAutoretry(all, new RangeError('x')), true);
  });

  test('an error rebuilt from another thread matches its class by name', () => {
    const p = resolveRetryOptions({ autoretryFor: [FetchError] });
    const rebuilt = Object.assign(new Error('503'), { name: 'FetchError' });
    assert.equal(shouldAutoretry(p, rebuilt), true);
  });

  test('a predicate that throws does not match', () => {
    const p = resolveRetryOptions({
      autoretryFor: [
        () => {
          throw new Error('oops');
        },
      ],
    });
    assert.equal(shouldAutoretry(p, new Error('x')), false);
  });
});
