import { hostname } from 'node:os';
import { readFile } from 'node:fs/promises';
import type { ScheduleOptions } from '../actors/beat-schedule.ts';
import { createScheduling } from '../actors/scheduling.ts';
import { InvalidArgumentError } from '../errors.ts';
import { type LogLevel, createLogger } from '../util/logger.ts';
import { type ClientFlags, clientApp } from './call-command.ts';
import { fromEnv } from './env.ts';
import { loadApp } from './load-app.ts';
import { redactUrl } from '../util/redact-url.ts';

/** Read a schedule file: JSON `{ "<name>": { task, cron | every, ... } }`. */
async function readSchedules(path: string): Promise<Record<string, ScheduleOptions>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`--schedules ${path}: cannot read it (${(err as Error).message})`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`--schedules ${path}: not JSON (${(err as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new InvalidArgumentError(`--schedules ${path}: must be an object of { "<name>": { task, cron | every, ... } }`);
  }
  return v as Record<string, ScheduleOptions>;
}

/** Flags of `celeriac beat`. */
export interface BeatFlags {
  schedules?: string;
  app: string;
  broker?: string;
  loglevel?: string;
  logFormat?: string;
}

/**
 * `celeriac beat -A <module>`: the scheduler alone (moves delayed tasks to their queues; fires
 * periodic tasks). Any number may run, with or beside workers: one process leads at a time. Stops
 * on SIGTERM/SIGINT, releasing its lease so a standby takes over at once.
 */
export async function runBeat(flags: BeatFlags): Promise<number> {
  const level = (flags.loglevel ?? 'info').toLowerCase();
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new InvalidArgumentError(`--loglevel must be one of debug, info, warn, error; got ${flags.loglevel}`);
  const { app } = await loadApp(flags.app);
  app.configure({ ...fromEnv(), ...(flags.broker ? { broker: flags.broker } : {}) });
  const logger = createLogger({ level: level as LogLevel, format: flags.logFormat === 'json' ? 'json' : 'text' });
  const transport = app.transport();
  await transport.connect();
  app.onWarning((m) => logger.warn(m));
  const holder = `beat@${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  if (flags.schedules) {
    for (const [name, o] of Object.entries(await readSchedules(flags.schedules))) app.schedule(name, o);
  }
  const schedules = app.schedules();
  const scheduling = await createScheduling(app, { holder, leaseMs: 3000, logger });
  await scheduling.start();
  const lines = [
    ` -------------- celeriac beat (${holder})`,
    ` --- app:    ${app.name}`,
    ` --- broker: ${redactUrl(app.options.broker)}`,
    '[schedules]',
    ...(schedules.length ? schedules.map((s) => `  . ${s.name}: ${s.task} ${s.kind === 'cron' ? `cron '${s.cron}' ${s.timezone}` : `every ${s.everyMs} ms`}`) : ['  (none)']),
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
  logger.info('beat ready');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  logger.info('beat stopping');
  await scheduling.stop();
  await app.close();
  return 0;
}

/** `celeriac inspect scheduled`: delayed tasks waiting for their eta, soonest first. */
export async function runInspectScheduled(flags: ClientFlags & { limit?: string; json?: boolean }): Promise<number> {
  const limit = flags.limit === undefined ? 100 : Number(flags.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new InvalidArgumentError(`--limit must be a positive integer, got ${JSON.stringify(flags.limit)}`);
  const app = await clientApp(flags);
  try {
    const rows = await app.scheduled({ limit });
    if (flags.json) process.stdout.write(JSON.stringify(rows) + '\n');
    else {
      for (const r of rows) process.stdout.write(`${r.eta}  ${r.queue.padEnd(12)} ${r.id}  ${r.task ?? '?'}${r.revoked ? '  (revoked: skipped when due)' : ''}\n`);
      process.stderr.write(`${rows.length} scheduled task(s) shown\n`);
    }
    return 0;
  } finally {
    await app.close();
  }
}
