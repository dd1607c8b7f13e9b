/**
 * Median with min–max over the repeats of a probe, and the table formatters the scenarios share.
 * @module
 */
import { median } from './measure.ts';

/** Median, min and max of the finite values (all null when there are none). */
export interface Stat {
  median: number | null;
  min: number | null;
  max: number | null;
}

export function stat(xs: Array<number | null | undefined>): Stat {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return v.length ? { median: median(v), min: Math.min(...v), max: Math.max(...v) } : { median: null, min: null, max: null };
}

/** `12,345` (or `—`). */
export const int = (v: number | null | undefined): string => (typeof v === 'number' ? Math.round(v).toLocaleString('en-US') : '—');
/** A ratio as `97.3 %` (or `—`). */
export const pct = (v: number | null | undefined): string => (typeof v === 'number' ? `${(v * 100).toFixed(1)} %` : '—');
/** `median (min–max)` with `f` for each. */
export const range = (s: Stat, f: (v: number | null) => string): string => `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
