import { CeleriacError, branded } from '../errors.ts';
import { parseDuration } from '../util/duration.ts';

/**
 * A duration flag (`--timeout`, `--countdown`, `--time-limit`, ...) in milliseconds: digits alone
 * are milliseconds (`3000`), otherwise a duration string (`'30s'`, `'5m'`). `undefined` when the
 * flag is not given.
 * @param flag the flag as the user typed it, named in the error, e.g. `'--timeout'`.
 * @throws InvalidArgumentError naming the flag (exit code 2).
 */
export function durationFlag(value: string, flag: string): number;
export function durationFlag(value: string | undefined, flag: string): number | undefined;
export function durationFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  return parseDuration(/^\d+$/.test(value.trim()) ? Number(value) : value, flag);
}

/** A duration in milliseconds as a flag value would be written: `'3s'`, `'250ms'`, `'2m'`. */
export function formatDuration(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * Exit code of `call --wait` and `result --wait` when the task did not finish within `--timeout`
 * (like `timeout(1)`): distinct from 1, which means the task failed or was revoked.
 */
export const EXIT_NOT_FINISHED = 124;

/**
 * An expected failure of a CLI command (the broker is unreachable, ...): `main()` prints
 * `celeriac: <message>` on one line, without a stack, and exits with `exitCode`.
 */
export class CliError extends CeleriacError {
  /** Exit code of the process. */
  readonly exitCode: number;
  constructor(code: string, message: string, exitCode = 1, options?: ErrorOptions) {
    super(code, message, options);
    this.exitCode = exitCode;
  }
}

/** True when `e` is a {@link CliError} (checks the brand, not `instanceof`). */
export const isCliError = branded('CliError') as (e: unknown) => e is CliError;
