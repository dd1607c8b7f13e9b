import { InvalidArgumentError } from '../errors.ts';
import type { CeleriacEvent, EventType } from '../execution/event-emitter.ts';
import { type ClientFlags, clientApp } from './call-command.ts';

const TYPES: readonly EventType[] = [
  'task-sent',
  'task-received',
  'task-started',
  'task-progress',
  'task-succeeded',
  'task-failed',
  'task-retried',
  'task-revoked',
  'task-rejected',
  'worker-online',
  'worker-heartbeat',
  'worker-offline',
  'circuit-changed',
];

const COLOR: Partial<Record<EventType, string>> = {
  'task-succeeded': '\u001b[32m',
  'task-failed': '\u001b[31m',
  'task-rejected': '\u001b[31m',
  'task-retried': '\u001b[33m',
  'task-revoked': '\u001b[35m',
  'worker-online': '\u001b[36m',
  'worker-offline': '\u001b[36m',
  'circuit-changed': '\u001b[33m',
};
const RESET = '\u001b[0m';

/** One line for an event: time, type, task and id (or worker), and the interesting fields. */
export function formatEvent(e: CeleriacEvent, color: boolean): string {
  const { type, at, worker, id, task, ...rest } = e;
  const time = new Date(at).toISOString().slice(11, 23);
  const what = task ? `${task} ${id ?? ''}`.trim() : '';
  const extra = Object.entries(rest)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const t = type.padEnd(16);
  return `${time} ${color && COLOR[type] ? `${COLOR[type]}${t}${RESET}` : t} ${worker}${what ? ` ${what}` : ''}${extra ? ` ${extra}` : ''}`;
}

/** `celeriac events [--type a,b] [--task name] [--json]`: live events until Ctrl-C. */
export async function runEvents(flags: ClientFlags & { type?: string; task?: string; json?: boolean; color?: boolean }): Promise<number> {
  const types = flags.type?.split(',').map((t) => t.trim()).filter(Boolean) as EventType[] | undefined;
  for (const t of types ?? []) if (!TYPES.includes(t)) throw new InvalidArgumentError(`--type: unknown event type ${JSON.stringify(t)}; one of ${TYPES.join(', ')}`);
  const app = await clientApp(flags);
  const color = flags.color !== false && process.stdout.isTTY === true;
  const stop = await app.events.subscribe(
    (e) => {
      if (flags.task && e.task !== flags.task) return;
      process.stdout.write(`${flags.json ? JSON.stringify(e) : formatEvent(e, color)}\n`);
    },
    types ? { types } : {},
  );
  process.stderr.write(`listening for events of app ${app.name}${types ? ` (${types.join(', ')})` : ''}; Ctrl-C to stop\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  stop();
  await app.close();
  return 0;
}

/** `celeriac control enable-events | disable-events`. */
export async function runEventsSwitch(enabled: boolean, flags: ClientFlags): Promise<number> {
  const app = await clientApp(flags);
  try {
    await app.control.events(enabled);
    process.stderr.write(`events ${enabled ? 'enabled' : 'disabled'} on every worker of app ${app.name}\n`);
    return 0;
  } finally {
    await app.close();
  }
}

/** `celeriac inspect workers [--json]`. */
export async function runInspectWorkers(flags: ClientFlags & { json?: boolean }): Promise<number> {
  const app = await clientApp(flags);
  try {
    const ws = await app.workers();
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(ws, null, 2)}\n`);
      return 0;
    }
    if (ws.length === 0) process.stderr.write('no worker has registered\n');
    for (const w of ws) {
      const ago = Math.round((Date.now() - w.heartbeatAt) / 100) / 10;
      process.stdout.write(
        `${w.online ? 'online ' : 'offline'}  ${w.name}  pid ${w.pid}  queues ${w.queues.join(',')}  active ${w.active}/${w.concurrency}  ok ${w.succeeded}  failed ${w.failed}  retried ${w.retried}  last beat ${ago}s ago\n`,
      );
    }
    return 0;
  } finally {
    await app.close();
  }
}
