import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isInvalidArgumentError } from '../../../src/errors.ts';
import { type Duration, parseDeadline, parseDuration } from '../../../src/util/duration.ts';

function assertInvalid(fn: () => unknown, what: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isInvalidArgumentError(err), `expected an InvalidArgumentError, got ${String(err)}`);
    assert.equal(err.code, 'E_INVALID_ARGUMENT');
    assert.ok(err.message.startsWith(`${what} `), `message names the option: ${err.message}`);
    return true;
  });
}

describe('parseDuration', () => {
  test('numbers are milliseconds', () => {
    assert.equal(parseDuration(0, 'o'), 0);
    assert.equal(parseDuration(250, 'o'), 250);
    assert.equal(parseDuration(1.5, 'o'), 1.5);
  });

  test('strings with a unit', () => {
    const cases: Array<[string, number]> = [
      ['250ms', 250],
      ['30s', 30_000],
      ['5m', 300_000],
      ['1h', 3_600_000],
      ['1d', 86_400_000],
      ['0s', 0],
      ['1.5s', 1_500],
      [' 2 m ', 120_000],
    ];
    for (const [input, ms] of cases) assert.equal(parseDuration(input, 'o'), ms, input);
  });

  test('sub-millisecond results are rounded', () => {
    assert.equal(parseDuration('0.4ms', 'o'), 0);
    assert.equal(parseDuration('1.6ms', 'o'), 2);
  });

  test('negative numbers are rejected, naming the option', () => {
    assertInvalid(() => parseDuration(-1, 'options.countdown'), 'options.countdown');
  });

  test('non-finite numbers are rejected', () => {
    assertInvalid(() => parseDuration(Number.NaN, 'options.grace'), 'options.grace');
    assertInvalid(() => parseDuration(Number.POSITIVE_INFINITY, 'options.grace'), 'options.grace');
  });

  test('strings without a known unit are rejected', () => {
    for (const bad of ['10', '', 'soon', '10 sec', '1w', '5M', 'ms', '1.s', '1e3ms']) {
      assertInvalid(() => parseDuration(bad, 'options.ackWait'), 'options.ackWait');
    }
  });

  test('negative strings are rejected', () => {
    assertInvalid(() => parseDuration('-5s', 'options.ttl'), 'options.ttl');
  });

  test('values of other types are rejected', () => {
    for (const bad of [null, undefined, {}, [], true]) {
      assertInvalid(() => parseDuration(bad as unknown as Duration, 'options.x'), 'options.x');
    }
  });
});

describe('parseDeadline', () => {
  test('a Date is its epoch ms', () => {
    const d = new Date('2030-01-01T00:00:00Z');
    assert.equal(parseDeadline(d, 'options.expires', 5), d.getTime());
  });

  test('a duration is counted from now', () => {
    assert.equal(parseDeadline('10s', 'options.expires', 1_000), 11_000);
    assert.equal(parseDeadline(500, 'options.expires', 1_000), 1_500);
  });

  test('now defaults to the clock', () => {
    const before = Date.now();
    const t = parseDeadline('1m', 'options.expires');
    assert.ok(t >= before + 60_000 && t <= Date.now() + 60_000);
  });

  test('an invalid Date is rejected, naming the option', () => {
    assertInvalid(() => parseDeadline(new Date('not a date'), 'options.expires'), 'options.expires');
  });

  test('an invalid duration is rejected, naming the option', () => {
    assertInvalid(() => parseDeadline('later', 'options.expires'), 'options.expires');
    assertInvalid(() => parseDeadline(-5, 'options.expires'), 'options.expires');
  });
});
