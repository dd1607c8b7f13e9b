/** Most timestamps in any window of `ms` (sliding): a rate check over start times. */
export function maxInWindow(times: readonly number[], ms: number): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while ((t[i] as number) - (t[j] as number) >= ms) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}
