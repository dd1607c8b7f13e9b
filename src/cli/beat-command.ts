import { hostname } from 'node:os';
import { Lease } from '../results/lease.ts';
import { Scheduler } from '../actors/scheduler.ts';
import { isTerminalState } from '../results/states.ts';
import { InvalidArgumentError } from '../errors.ts';
import { type LogLevel, createLogger } from '../util/logger.ts';
import { type ClientFlags, clientApp } from './call-command.ts';
import { fromEnv } from './env.ts';
import { loadApp } from './load-app.ts';

/** Flags of `celeriac beat`. */
export interface BeatFlags {
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
  const backend = await app.resultBackend();
  const scheduler = new Scheduler({
    transport,
    lease: new Lease(await app.leaseStore(), 'scheduler', holder, 3000),
    logger,
    isDone: async (id) => {
      const r = await backend.get(id);
      return r !== null && isTerminalState(r.status);
    },
  });
  await scheduler.start();
  process.stdout.write(` -------------- celeriac beat (${holder})\n --- app:    ${app.name}\n --- broker: ${app.options.broker.replace(/\/\/[^@/]*@/, '//')}\n`);
  logger.info('beat ready');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  logger.info('beat stopping');
  await scheduler.stop();
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
      for (const r of rows) process.stdout.write(`${r.eta}  ${r.queue.padEnd(12)} ${r.id}  ${r.task ?? '?'}\n`);
      process.stderr.write(`${rows.length} scheduled task(s) shown\n`);
    }
    return 0;
  } finally {
    await app.close();
  }
}
