/**
 * Calibration of the W3 CPU bench: the iteration counts of `spin` that take about 1 ms and 10 ms
 * (or the targets given) on this machine, single-threaded, and the cost of one such task measured
 * in a plain worker thread. Every run of the bench then does the same work (same counts).
 *
 *   node --import tsx bench/roles/cpu-calibrate.ts <targetsMs, e.g. 1,10> <verifyMs>
 * @module
 */
import { num, round, runRole } from '../lib/measure.ts';
import { calibrate, rawThreads } from './cpu-work.ts';

const [targetsArg = '1,10', verifyArg] = process.argv.slice(2);
const targets = targetsArg.split(',').map((x) => num(x.trim(), Number.NaN));
const verifyMs = num(verifyArg, 800);

runRole('cpu-calibrate', num(process.env.BENCH_ROLE_DEADLINE_MS, 60_000), async () => {
  if (targets.some((t) => !(t > 0))) throw new Error(`targets must be positive milliseconds, got ${targetsArg}`);
  const iters = calibrate(targets);
  const msPerTask: Record<string, number> = {};
  for (const t of targets) msPerTask[String(t)] = round((await rawThreads(1, iters[String(t)] as number, Math.max(verifyMs, 20 * t))).msPerTask, 4);
  return { iters, ms_per_task_in_thread: msPerTask };
});
