/**
 * Memory of a process from procfs (Linux): `VmRSS` (resident now) and `VmHWM` (peak resident, the
 * "high water mark") of `/proc/<pid>/status`, in MiB.
 * @module
 */
import { readFileSync } from 'node:fs';

export interface ProcMemory {
  /** Resident set size now, MiB. */
  rssMb: number;
  /** Peak resident set size since the process started, MiB. */
  hwmMb: number;
}

function field(status: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** `VmRSS` and `VmHWM` of `pid` (default: this process), or null when it cannot be read (gone, not Linux). */
export function procMemory(pid: number | 'self' = 'self'): ProcMemory | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { rssMb: field(s, 'VmRSS'), hwmMb: field(s, 'VmHWM') };
  } catch {
    return null;
  }
}
