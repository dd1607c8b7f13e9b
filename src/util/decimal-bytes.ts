/**
 * Write the decimal digits of the non-negative safe integer `n` into `b` at `at`, one byte per digit
 * (no string is made); returns the offset after them. Used where numbers go into bytes by the
 * thousand per second (protocol frames, event batches).
 */
export function writeDecimal(b: Uint8Array, at: number, n: number): number {
  let len = 1;
  for (let v = n; v >= 10; v = Math.floor(v / 10)) len++;
  let v = n;
  for (let k = at + len - 1; k >= at; k--) {
    b[k] = 48 + (v % 10);
    v = Math.floor(v / 10);
  }
  return at + len;
}
