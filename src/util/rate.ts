import { InvalidArgumentError } from '../errors.ts';

/** A rate in Celery's syntax: `'100/s'`, `'10/m'`, `'1000/h'` (a bare number is per second). */
export type RateString = `${number}/${'s' | 'm' | 'h'}` | `${number}`;

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000 } as const;

/**
 * Parse a rate: `{ perMs, text }`, where `perMs` is tasks per millisecond.
 * @throws InvalidArgumentError naming the value, e.g. for `'10/d'` or `'-1/s'`.
 */
export function parseRate(rate: string | number, what = 'rate'): { perMs: number; text: string } {
  const text = String(rate).trim();
  const m = /^(\d+(?:\.\d+)?)(?:\/([smh]))?$/.exec(text);
  const n = m ? Number(m[1]) : Number.NaN;
  if (!m || !(n > 0)) throw new InvalidArgumentError(`${what} must be a positive rate like '100/s', '10/m' or '1000/h', got ${JSON.stringify(rate)}`);
  const unit = (m[2] ?? 's') as keyof typeof UNIT_MS;
  return { perMs: n / UNIT_MS[unit], text: m[2] ? text : `${text}/s` };
}
