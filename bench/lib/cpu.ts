/**
 * CPU time of processes from procfs (Linux): `utime + stime` of `/proc/<pid>/stat`, in ms. The
 * orchestrator snapshots every process of a probe (roles and nats-server) before and after the
 * measured window; the difference divided by the tasks gives CPU-µs per task across all processes.
 * @module
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** `getconf CLK_TCK` (100 on Linux), read once. */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU time of `pid` so far, ms (children not included); null when it cannot be read. */
export function cpuTimeMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: the fields after it start past its ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
    return ((utime + stime) * 1000) / clockTicks();
  } catch {
    return null;
  }
}

/** CPU time of several processes, by name. */
export type CpuSnapshot = Record<string, number | null>;

export function cpuSnapshot(pids: Record<string, number | undefined>): CpuSnapshot {
  const out: CpuSnapshot = {};
  for (const [name, pid] of Object.entries(pids)) out[name] = pid === undefined ? null : cpuTimeMs(pid);
  return out;
}

/**
 * CPU ms spent between two snapshots, by process and in total, and µs per item (`items` tasks or
 * messages). A process missing from either snapshot counts as 0 and is listed in `unread`.
 */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot, items: number): { byProcessMs: Record<string, number>; totalMs: number; usPerItem: number; unread: string[] } {
  const byProcessMs: Record<string, number> = {};
  const unread: string[] = [];
  let totalMs = 0;
  for (const name of Object.keys(after)) {
    const a = after[name];
    const b = before[name];
    if (typeof a !== 'number' || typeof b !== 'number') {
      unread.push(name);
      continue;
    }
    byProcessMs[name] = Math.round(a - b);
    totalMs += a - b;
  }
  return { byProcessMs, totalMs: Math.round(totalMs), usPerItem: items > 0 ? Math.round(((totalMs * 1000) / items) * 10) / 10 : 0, unread };
}
