import { InvalidArgumentError } from '../errors.ts';

/** A duration: milliseconds as a number, or a string with a unit: `'250ms'`, `'30s'`, `'5m'`, `'1h'`, `'1d'`. */
export type Duration = number | string;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const RE = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/;

/**
 * Parse a {@link Duration} to milliseconds.
 * @param what names the option in the error message, e.g. `'options.countdown'`.
 * @throws InvalidArgumentError for negative, non-finite or unit-less strings.
 */
export function parseDuration(value: Duration, what: string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) {
      throw new InvalidArgumentError(`${what} must be a non-negative number of milliseconds, got ${value}`);
    }
    return value;
  }
  if (typeof value === 'string') {
    const m = RE.exec(value);
    if (m) return Math.round(Number(m[1]) * (UNITS[m[2] as string] as number));
  }
  throw new InvalidArgumentError(
    `${what} must be milliseconds or a string like '250ms', '30s', '5m', '1h', got ${JSON.stringify(value)}`,
  );
}

/** A point in time given as a Date, or as a duration from now. Returns epoch ms. */
export function parseDeadline(value: Date | Duration, what: string, now = Date.now()): number {
  if (value instanceof Date) {
    const t = value.getTime();
    if (Number.isNaN(t)) throw new InvalidArgumentError(`${what} is an invalid Date`);
    return t;
  }
  return now + parseDuration(value, what);
}
