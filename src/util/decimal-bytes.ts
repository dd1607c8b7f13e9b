/**
 * Write the decimal digits of the non-negative safe integer `n` into `b` at `at`, one byte per digit
 * (no string is made); returns the offset after them. Used where numbers go into bytes by the
 * thousand per second (protocol frames, event batches).
 *
 * Digits come from 31-bit integer arithmetic only: `%` on a number above 2^31 (an epoch-ms
 * timestamp, which every event carries) is a floating-point remainder that V8 computes through a
 * C call, and writing a 13-digit timestamp that way took ~200 ns against ~45 ns now.
 */
export function writeDecimal(b: Uint8Array, at: number, n: number): number {
  if (n < 0x80000000) return writeSmall(b, at, n);
  // Above 2^31: the part above the last 9 digits first, then those 9 digits with their zeros.
  const high = Math.floor(n / 1e9);
  const end = writeDecimal(b, at, high);
  writeDigits(b, end, 9, n - high * 1e9);
  return end + 9;
}

/** `n` < 2^31, without leading zeros. */
function writeSmall(b: Uint8Array, at: number, n: number): number {
  let len = 1;
  for (let v = n; v >= 10; v = (v / 10) | 0) len++;
  writeDigits(b, at, len, n);
  return at + len;
}

/** The last `len` decimal digits of `n` (< 2^31), zero-padded, at `at`. */
function writeDigits(b: Uint8Array, at: number, len: number, n: number): void {
  let v = n;
  for (let k = at + len - 1; k >= at; k--) {
    const q = (v / 10) | 0;
    b[k] = 48 + v - q * 10;
    v = q;
  }
}
