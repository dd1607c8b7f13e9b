/**
 * The side effect the chaos tasks perform, standing in for "charge the card" or "insert the row":
 * files in the run's effect directory, which outlive any process. A keyed task's effect is guarded
 * by its idempotency key: it creates `keyed/<key>` with `O_CREAT|O_EXCL` (put-if-absent), and only
 * the execution that won the create appends its line to the effect log. An unkeyed task just appends
 * a line per execution. Each append is one small `O_APPEND` write (atomic).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Create the effect directory layout (idempotent). */
export function ensureEffectsDir(dir: string): void {
  mkdirSync(join(dir, 'keyed'), { recursive: true });
  mkdirSync(join(dir, 'log'), { recursive: true });
}

/**
 * Commit the effect of task `id` for the execution `token`: true when this execution committed it,
 * false when a keyed task found it already committed.
 */
export function commitEffect(dir: string, id: string, key: string | null, token: string): boolean {
  if (key !== null) {
    try {
      writeFileSync(join(dir, 'keyed', key), token, { flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  }
  appendFileSync(join(dir, 'log', `${process.pid}.log`), `${id} ${token}\n`, { flag: 'a' });
  return true;
}

/**
 * Committed effects per task id: the lines of the effect log, and at least 1 for a keyed task whose
 * guard file exists (its process may have died between the create and the log line).
 */
export function readEffects(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const name of readdirSync(join(dir, 'log'))) {
    for (const line of readFileSync(join(dir, 'log', name), 'utf8').split('\n')) {
      const id = line.split(' ')[0];
      if (id) out.set(id, (out.get(id) ?? 0) + 1);
    }
  }
  for (const key of readdirSync(join(dir, 'keyed'))) if (!out.has(key)) out.set(key, 1);
  return out;
}

/** Whether the keyed effect `key` exists. */
export function hasKeyedEffect(dir: string, key: string): boolean {
  return existsSync(join(dir, 'keyed', key));
}
