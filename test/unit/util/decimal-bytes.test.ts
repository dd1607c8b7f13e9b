/** writeDecimal: the digits `String(n)` gives, written as bytes (frame sizes, event timestamps). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { writeDecimal } from '../../../src/util/decimal-bytes.ts';

function written(n: number, at = 3): string {
  const b = new Uint8Array(40).fill(0x78);
  const end = writeDecimal(b, at, n);
  if (at > 0) assert.equal(b[at - 1], 0x78, 'nothing is written before the offset');
  assert.equal(b[end], 0x78, 'nothing is written after the returned offset');
  return Buffer.from(b.subarray(at, end)).toString('latin1');
}

test('small numbers, powers of ten and their neighbours are written as String() writes them', () => {
  const cases = [0, 1, 9, 10, 11, 99, 100, 101, 65_535, 1_048_576, 999_999_999, 1_000_000_000, 1_000_000_001];
  for (let p = 1; p <= 1e15; p *= 10) cases.push(p - 1, p, p + 1);
  for (const n of cases) assert.equal(written(n), String(n), `n = ${n}`);
});

test('around 2^31 and 2^32, where the digits switch from integer to split arithmetic', () => {
  for (const base of [2 ** 31, 2 ** 32, 2 ** 53 - 1]) {
    for (let d = -3; d <= 3; d++) {
      const n = base + d;
      if (n <= Number.MAX_SAFE_INTEGER) assert.equal(written(n), String(n), `n = ${n}`);
    }
  }
});

test('epoch-ms timestamps, including ones whose last nine digits start with zeros', () => {
  for (const n of [Date.now(), 1_795_000_000_000, 1_795_000_000_007, 1_700_000_012_345, Number.MAX_SAFE_INTEGER]) assert.equal(written(n, 0), String(n));
  let x = 1;
  for (let i = 0; i < 2_000; i++) {
    x = (x * 48_271) % 2_147_483_647;
    const n = x * 4_194_304 + i; // spread across the safe range
    assert.equal(written(n), String(n), `n = ${n}`);
  }
});
