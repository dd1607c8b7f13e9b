import type { DeadLetterInfo } from '../app/dead-letter-queue.ts';
import { InvalidArgumentError } from '../errors.ts';
import { type ClientFlags, clientApp } from './call-command.ts';
import { ProgressBar } from './progress.ts';

/** Flags of `celeriac dlq ...`. */
export interface DlqFlags extends ClientFlags {
  queue?: string;
  limit?: string;
  id?: string[];
  all?: boolean;
  json?: boolean;
  /** replay: also entries refused by the signature checks. */
  force?: boolean;
}

function line(e: DeadLetterInfo): string {
  const err = e.error ? `${e.error.name}: ${e.error.message}` : '';
  return `${String(e.seq).padStart(6)}  ${e.time}  ${e.queue.padEnd(12)} ${e.taskId}  ${e.task ?? '?'}  ${e.reason}  attempts=${e.attempts} retries=${e.retries}  ${err}`;
}

function plain(e: DeadLetterInfo): Omit<DeadLetterInfo, 'raw'> & { headers: Record<string, string> } {
  const { raw, ...rest } = e;
  return { ...rest, headers: { ...raw.headers } };
}

/** `celeriac dlq list|show|replay|purge`. */
export async function runDlq(action: string, target: string | undefined, flags: DlqFlags): Promise<number> {
  const app = await clientApp(flags);
  try {
    const dlq = app.deadLetters;
    const queue = flags.queue;
    switch (action) {
      case 'list': {
        const limit = flags.limit === undefined ? 1000 : Number(flags.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new InvalidArgumentError(`--limit must be a positive integer, got ${JSON.stringify(flags.limit)}`);
        const entries = await dlq.list({ queue, limit });
        if (flags.json) process.stdout.write(JSON.stringify(entries.map(plain)) + '\n');
        else {
          for (const e of entries) process.stdout.write(line(e) + '\n');
          process.stderr.write(`${entries.length} dead letter(s)${queue ? ` in queue ${queue}` : ''}\n`);
        }
        return 0;
      }
      case 'show': {
        if (!target) throw new InvalidArgumentError('dlq show <task-id>: give the task id');
        const entries = await dlq.show(target);
        if (entries.length === 0) {
          process.stderr.write(`no dead letter for task ${target}\n`);
          return 1;
        }
        process.stdout.write(JSON.stringify(entries.map((e) => ({ ...plain(e), args: e.args })), null, 2) + '\n');
        return 0;
      }
      case 'replay': {
        const ids = [...(flags.id ?? []), ...(target ? [target] : [])];
        if (ids.length === 0 && !flags.all) throw new InvalidArgumentError('dlq replay: give --id <task-id> (repeatable) or --all [--queue q]');
        const bar = new ProgressBar('replaying');
        const onProgress = (d: number, total: number) => bar.update(d, total);
        const force = flags.force === true;
        const done = await dlq.replay(flags.all ? { all: true, queue, onProgress, force } : { ids, queue, onProgress, force });
        bar.done(`${done.length} task(s) re-published`);
        for (const id of done) process.stdout.write(id + '\n');
        return ids.length > 0 && done.length < new Set(ids).size ? 1 : 0;
      }
      case 'purge': {
        const n = await dlq.purge(queue);
        process.stderr.write(`${n} dead letter(s) removed${queue ? ` from queue ${queue}` : ''}\n`);
        return 0;
      }
      default:
        throw new InvalidArgumentError(`dlq: unknown action ${JSON.stringify(action)}; use list, show, replay or purge`);
    }
  } finally {
    await app.close();
  }
}

/** `celeriac control revoke <id...> [--terminate]`. */
export async function runRevoke(ids: string[], flags: ClientFlags & { terminate?: boolean }): Promise<number> {
  if (ids.length === 0) throw new InvalidArgumentError('control revoke: give at least one task id');
  const app = await clientApp(flags);
  try {
    await app.control.revoke(ids, { terminate: flags.terminate === true });
    process.stderr.write(`revoked ${ids.length} task(s)${flags.terminate ? ' (terminate)' : ''}\n`);
    return 0;
  } finally {
    await app.close();
  }
}

/** `celeriac control rate-limit <task> <rate>` (`'100/s'`, `'10/m'`, `'1000/h'`, or `off` to go back to the configured rate). */
export async function runRateLimit(task: string, rate: string, flags: ClientFlags): Promise<number> {
  const app = await clientApp(flags);
  try {
    const off = rate === 'off' || rate === 'none';
    await app.control.rateLimit(task, off ? null : rate);
    process.stderr.write(off ? `rate limit of ${task}: back to the configured rate\n` : `rate limit of ${task}: ${rate} (workers with the rate-limit plugin apply it now)\n`);
    return 0;
  } finally {
    await app.close();
  }
}
