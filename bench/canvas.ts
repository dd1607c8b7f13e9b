/**
 * `npm run bench -- canvas`: what a workflow costs against the same work done by hand. Against a
 * nats-server started here (fresh store), one worker process (concurrency 64) and one producer
 * process (see bench/roles/canvas-producer.ts):
 *
 * - chain of 10 `add` steps vs 10 single round trips (delay + get, each waiting for the last);
 * - chord of 1,000 `add` header tasks + `tsum` body vs 1,000 independent round trips.
 *
 * One warm-up run, then BENCH_CANVAS_RUNS (default 10) measured runs; median with min–max. Every
 * value is checked (a wrong sum fails the run). Target: chord ≤ 1.3× the independent round trips.
 * Environment: BENCH_CANVAS_RUNS, BENCH_CANVAS_CHAINS (chains per run, 10), BENCH_CANVAS_SIZE
 * (chord header size, 1000), BENCH_CANVAS_CONCURRENCY (64), BENCH_CANVAS_OUT (result file,
 * bench/results/canvas-latest.json). See docs/benchmarks.md.
 * @module
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { startNatsServer } from '../src/testing.ts';
import { ROOT, killAllRoles, startRole } from './lib/child.ts';
import { machineInfo } from './lib/machine.ts';
import { median, num, round } from './lib/measure.ts';
import { table } from './lib/report.ts';

const RUNS = num(process.env.BENCH_CANVAS_RUNS, 10);
const CHAINS = num(process.env.BENCH_CANVAS_CHAINS, 10);
const SIZE = num(process.env.BENCH_CANVAS_SIZE, 1000);
const CONCURRENCY = num(process.env.BENCH_CANVAS_CONCURRENCY, 64);
const OUT = resolve(ROOT, process.env.BENCH_CANVAS_OUT ?? 'bench/results/canvas-latest.json');
const TARGET_CHORD_RATIO = 1.3;

function stat(xs: number[]): { median: number; min: number; max: number } {
  return { median: round(median(xs)), min: round(Math.min(...xs)), max: round(Math.max(...xs)) };
}

async function main(): Promise<void> {
  const server = await startNatsServer();
  const app = `bench-canvas-${Date.now().toString(36)}`;
  try {
    const worker = startRole('canvas-worker.ts', [server.url, app, CONCURRENCY], 900_000);
    await worker.ready;
    process.stderr.write(`canvas bench: ${RUNS} runs (+1 warm-up), ${CHAINS} chains of 10 and a chord of ${SIZE} per run, worker c=${CONCURRENCY}\n`);
    const producer = startRole('canvas-producer.ts', [server.url, app, RUNS, CHAINS, SIZE], 900_000);
    const res = await producer.result;
    worker.stop();
    const w = await worker.result;
    const runs = res.runs as Array<Record<string, number>>;
    const col = (k: string) => runs.map((r) => r[k] as number);
    const chainRatio = col('chainMs').map((c, i) => c / (col('singlesMs')[i] as number));
    const chordRatio = col('chordMs').map((c, i) => c / (col('independentMs')[i] as number));
    const result = {
      date: new Date().toISOString(),
      machine: await machineInfo(num(process.env.BENCH_REDIS_PORT, 6379)),
      config: { runs: RUNS, chains: CHAINS, size: SIZE, concurrency: CONCURRENCY },
      chain10Ms: stat(col('chainMs')),
      singles10Ms: stat(col('singlesMs')),
      chainRatio: stat(chainRatio),
      chordMs: stat(col('chordMs')),
      independentMs: stat(col('independentMs')),
      chordRatio: stat(chordRatio),
      target: { chordRatio: TARGET_CHORD_RATIO, met: median(chordRatio) <= TARGET_CHORD_RATIO },
      worker: w,
      runs,
    };
    await mkdir(dirname(OUT), { recursive: true });
    await writeFile(OUT, `${JSON.stringify(result, null, 2)}\n`);
    const fmt = (s: { median: number; min: number; max: number }) => `${s.median} (${s.min}–${s.max})`;
    console.log(
      table([
        ['scenario', 'median (min–max)'],
          ['chain of 10, ms per chain', fmt(result.chain10Ms)],
          ['10 single round trips, ms', fmt(result.singles10Ms)],
          ['chain / singles', fmt(result.chainRatio)],
          [`chord(${SIZE}), ms`, fmt(result.chordMs)],
          [`${SIZE} independent round trips, ms`, fmt(result.independentMs)],
          [`chord / independent (target ≤ ${TARGET_CHORD_RATIO})`, `${fmt(result.chordRatio)} ${result.target.met ? 'MET' : 'MISSED'}`],
      ]),
    );
    console.log(`results: ${relative(ROOT, OUT)}`);
  } finally {
    killAllRoles();
    await server.stop();
  }
}

main().catch((err: unknown) => {
  killAllRoles();
  console.error(err);
  process.exit(1);
});
