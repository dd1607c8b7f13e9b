/**
 * Lateness summaries over a typed array of milliseconds (no copy into a JS array: 100k values).
 * @module
 */
import { round } from './measure.ts';

export interface LatencySummary {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles (like `percentile()` in measure.ts) of `values`; NaN-free input expected. */
export function latencySummary(values: Float64Array): LatencySummary | null {
  if (values.length === 0) return null;
  const s = Float64Array.from(values).sort();
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
  let sum = 0;
  for (const v of s) sum += v;
  return {
    count: s.length,
    min: round(s[0] ?? Number.NaN),
    p50: round(at(50)),
    p90: round(at(90)),
    p99: round(at(99)),
    p999: round(at(99.9)),
    max: round(s[s.length - 1] ?? Number.NaN),
    mean: round(sum / s.length),
  };
}
