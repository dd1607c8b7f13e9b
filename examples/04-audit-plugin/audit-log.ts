/**
 * An audit-log plugin, the worked example of docs/guide/writing-plugins.md: it stamps who sent each
 * task (a publish hook that transforms the call), times every execution (an execute hook) and
 * records retries (an observer).
 */
import type { Middleware } from '../../src/index.ts';

/** One line of the audit log. */
export interface AuditEntry {
  kind: 'sent' | 'ran' | 'failed' | 'retried';
  task: string;
  id: string;
  /** Who sent it (the `audit-actor` header). */
  actor: string;
  ms?: number;
  error?: string;
}

/** Options of {@link auditLog}. */
export interface AuditLogOptions {
  /** Where entries go (a file, a table, a stream). */
  sink: (entry: AuditEntry) => void;
  /** Who is sending, stamped on every task published through this app. @defaultValue 'unknown' */
  actor?: string;
}

export function auditLog(options: AuditLogOptions): Middleware {
  const actor = options.actor ?? 'unknown';
  return {
    name: 'audit-log',
    // Transform: stamp the sender on the call (a copy; the input is read-only).
    async publish(input, next) {
      const headers = { ...input.options.headers, 'audit-actor': input.options.headers?.['audit-actor'] ?? actor };
      const out = await next({ ...input, options: { ...input.options, headers } });
      options.sink({ kind: 'sent', task: input.task, id: out.taskId, actor: headers['audit-actor'] });
      return out;
    },
    // Wrap: time the execution, record how it ended, and let the outcome through unchanged.
    async execute(input, next) {
      const started = Date.now();
      const who = input.ctx.headers['audit-actor'] ?? 'unknown';
      try {
        const result = await next(input);
        options.sink({ kind: 'ran', task: input.task, id: input.ctx.id, actor: who, ms: Date.now() - started });
        return result;
      } catch (err) {
        options.sink({ kind: 'failed', task: input.task, id: input.ctx.id, actor: who, ms: Date.now() - started, error: (err as Error).message });
        throw err;
      }
    },
    // Observe: a retry is scheduled (the next attempt is a new execution).
    retry(e) {
      options.sink({ kind: 'retried', task: e.task, id: e.id, actor: 'worker', error: e.error.message });
    },
  };
}
