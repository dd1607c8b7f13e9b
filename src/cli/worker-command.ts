import type { App } from '../app/create-app.ts';
import { InvalidArgumentError } from '../errors.ts';
import { parseAutoscale } from '../actors/worker-options.ts';
import { startTelemetryFromEnv } from './otel.ts';
import { type LogLevel, createLogger } from '../util/logger.ts';
import { fromEnv } from './env.ts';
import { loadApp } from './load-app.ts';
import { packageVersion } from './version.ts';
import { redactUrl } from '../util/redact-url.ts';
import { durationFlag } from './flags.ts';

/** Flags of `celeriac worker`. */
export interface WorkerFlags {
  app: string;
  broker?: string;
  queues?: string;
  heartbeat?: string;
  withoutEvents?: boolean;
  concurrency?: string;
  cpuThreads?: string;
  cpuStart?: string;
  hostname?: string;
  loglevel?: string;
  logFormat?: string;
  grace?: string;
  timeLimit?: string;
  softTimeLimit?: string;
  autoscale?: string;
  maxTasksPerThread?: string;
  maxMemoryPerThread?: string;
}

function int(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${flag} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

const LEVELS = new Set(['debug', 'info', 'warn', 'error']);

/** The worker banner (Celery-style), one string. */
export function banner(
  app: App,
  w: { name: string; queues: string[]; concurrency: number; cpuThreads: number; cpuStart?: 'lazy' | 'eager'; maxTasksPerThread?: number; maxMemoryPerThreadMb?: number },
): string {
  const recycle = [w.maxTasksPerThread ? `${w.maxTasksPerThread} tasks` : '', w.maxMemoryPerThreadMb ? `${w.maxMemoryPerThreadMb} MiB` : ''].filter(Boolean);
  const tasks = app.taskNames().map((n) => `  . ${n}${app.taskKind(n) === 'cpu' ? '  [cpu]' : ''}`);
  return [
    ` -------------- ${w.name} v${packageVersion()}`,
    ` --- app:         ${app.name}`,
    ` --- broker:      ${redactUrl(app.options.broker)}`,
    ` --- results:     ${app.options.resultBackend === 'memory' ? 'memory' : app.options.broker.split(':')[0] + ' (' + app.name + '-results)'}`,
    ` --- queues:      ${w.queues.join(', ')}`,
    ` --- concurrency: ${w.concurrency} slots, ${w.cpuThreads} cpu threads${recycle.length ? ` (each recycled after ${recycle.join(' or ')})` : ''}${w.cpuStart === 'lazy' ? ', started with the first cpu task' : ''}`,
    '',
    '[tasks]',
    ...(tasks.length ? tasks : ['  (none registered)']),
    '',
  ].join('\n');
}

/**
 * `celeriac worker`: load the app, apply env and flags, start the node, print the banner; warm
 * shutdown on the first SIGTERM/SIGINT, cold on the second. Resolves with the exit code.
 */
export async function runWorker(flags: WorkerFlags): Promise<number> {
  const level = (flags.loglevel ?? 'info').toLowerCase();
  if (!LEVELS.has(level)) throw new InvalidArgumentError(`--loglevel must be one of debug, info, warn, error; got ${flags.loglevel}`);
  if (flags.logFormat !== undefined && flags.logFormat !== 'text' && flags.logFormat !== 'json') {
    throw new InvalidArgumentError(`--log-format must be text or json, got ${flags.logFormat}`);
  }
  const timeLimit = durationFlag(flags.timeLimit, '--time-limit');
  const softTimeLimit = durationFlag(flags.softTimeLimit, '--soft-time-limit');
  const heartbeat = durationFlag(flags.heartbeat, '--heartbeat');
  if (heartbeat !== undefined && heartbeat < 100) throw new InvalidArgumentError(`--heartbeat must be at least 100ms, got ${flags.heartbeat}`);
  if (timeLimit !== undefined && softTimeLimit !== undefined && softTimeLimit >= timeLimit) {
    throw new InvalidArgumentError(`--soft-time-limit must be below --time-limit, got ${flags.softTimeLimit} and ${flags.timeLimit}`);
  }
  // The SDK first (when OTEL_* asks for it), so the worker's spans and metrics have somewhere to go.
  const stopTelemetry = await startTelemetryFromEnv(process.env, 'celeriac-worker');
  const { app, moduleUrl } = await loadApp(flags.app);
  app.configure({ ...fromEnv(), ...(flags.broker ? { broker: flags.broker } : {}) });
  const logger = createLogger({ level: level as LogLevel, format: (flags.logFormat as 'text' | 'json') ?? 'text' });
  const graceS = flags.grace === undefined ? undefined : Number(flags.grace);
  if (graceS !== undefined && !(Number.isFinite(graceS) && graceS >= 0)) throw new InvalidArgumentError(`--grace must be seconds >= 0, got ${flags.grace}`);
  const cpuStart = (v: string | undefined): 'lazy' | 'eager' | undefined => {
    if (v === undefined || v === 'lazy' || v === 'eager') return v;
    throw new InvalidArgumentError(`--cpu-start must be lazy or eager, got ${JSON.stringify(v)}`);
  };
  const worker = app.worker({
    queues: flags.queues?.split(',').map((q) => q.trim()).filter(Boolean),
    concurrency: int(flags.concurrency, '-c/--concurrency'),
    cpuThreads: int(flags.cpuThreads, '--cpu-threads'),
    cpuStart: cpuStart(flags.cpuStart),
    maxTasksPerThread: int(flags.maxTasksPerThread, '--max-tasks-per-thread'),
    maxMemoryPerThreadMb: int(flags.maxMemoryPerThread, '--max-memory-per-thread'),
    name: flags.hostname,
    tasksModule: moduleUrl,
    grace: graceS === undefined ? undefined : graceS * 1000,
    timeLimit,
    softTimeLimit,
    ...(heartbeat !== undefined ? { heartbeat } : {}),
    ...(flags.withoutEvents ? { events: false } : {}),
    ...(flags.autoscale ? { autoscale: parseAutoscale(flags.autoscale) } : {}),
    logger: logger.child({ worker: flags.hostname }),
  });
  const o = worker.options;
  process.stdout.write(banner(app, o) + '\n');

  let resolveExit!: (code: number) => void;
  const exit = new Promise<number>((r) => (resolveExit = r));
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      logger.info(`${sig}: warm shutdown (finishing tasks in flight; send again for cold shutdown)`, { graceMs: o.graceMs });
      worker.stop().then(
        () => resolveExit(0),
        (err) => {
          logger.error('shutdown failed', { error: err });
          resolveExit(1);
        },
      );
    } else if (signals === 2) {
      logger.warn(`${sig}: cold shutdown (unfinished tasks are handed back to the broker)`);
      worker.kill().then(
        () => resolveExit(1),
        () => resolveExit(1),
      );
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // A remote `celeriac control shutdown` stops the node: the process ends as after SIGTERM.
  worker.onStopped(() => resolveExit(0));
  worker.onFatal((err) => {
    logger.error('worker node failed: supervisor restart intensity exceeded', { error: err });
    resolveExit(1);
  });
  try {
    await worker.start();
  } catch (err) {
    logger.error('worker failed to start', { error: err });
    await worker.stop(0).catch(() => undefined);
    await stopTelemetry?.().catch(() => undefined);
    return 1;
  }
  logger.info('worker ready', { queues: o.queues.join(','), concurrency: o.concurrency });
  const code = await exit;
  await app.close().catch(() => undefined);
  // Flush the spans of the last tasks before the process exits.
  await stopTelemetry?.().catch((err: unknown) => logger.warn('OpenTelemetry SDK did not shut down cleanly', { error: err }));
  logger.info('worker stopped', { ...worker.stats() });
  return code;
}
