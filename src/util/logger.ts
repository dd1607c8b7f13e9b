/** Log levels, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A structured logger: a message plus key/value fields. */
export interface Logger {
  /** Write `msg` with `fields` at level `debug`. */
  debug(msg: string, fields?: Record<string, unknown>): void;
  /** Write `msg` with `fields` at level `info`. */
  info(msg: string, fields?: Record<string, unknown>): void;
  /** Write `msg` with `fields` at level `warn`. */
  warn(msg: string, fields?: Record<string, unknown>): void;
  /** Write `msg` with `fields` at level `error`. */
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `fields` to every line. */
  child(fields: Record<string, unknown>): Logger;
  /** True when lines of `level` are written (lets hot paths skip building them). */
  enabled?(level: LogLevel): boolean;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** @defaultValue `'info'` */
  level?: LogLevel;
  /** `'text'`: `time LEVEL msg k=v`; `'json'`: one JSON object per line. @defaultValue `'text'` */
  format?: 'text' | 'json';
  /** Where lines go. @defaultValue stderr */
  write?: (line: string) => void;
}

function fmtValue(v: unknown): string {
  if (typeof v === 'string') return /[\s="]/.test(v) ? JSON.stringify(v) : v;
  if (v instanceof Error) return JSON.stringify(`${v.name}: ${v.message}`);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Create a structured logger. */
export function createLogger(options: LoggerOptions = {}, base: Record<string, unknown> = {}): Logger {
  const min = ORDER[options.level ?? 'info'];
  const write = options.write ?? ((l: string) => process.stderr.write(l + '\n'));
  const json = options.format === 'json';
  const log = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    const all = { ...base, ...fields };
    if (json) {
      write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...all }, (_k, v) => (v instanceof Error ? { name: v.name, message: v.message, stack: v.stack } : v)));
      return;
    }
    let line = `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${msg}`;
    for (const k in all) if (all[k] !== undefined) line += ` ${k}=${fmtValue(all[k])}`;
    write(line);
  };
  return {
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
    child: (f) => createLogger(options, { ...base, ...f }),
    enabled: (level) => ORDER[level] >= min,
  };
}

/** A logger that drops everything. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};
