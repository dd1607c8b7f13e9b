/**
 * The Celery peer (optional): a `celery worker` process (prefork) and the producer / round-trip
 * scripts of `bench/roles/celery_bench.py`, against Redis (database 15, a key prefix per run).
 * Skipped unless `BENCH_PYTHON` (default Debian's `/usr/bin/python3`) imports celery and redis.
 * @module
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { ROOT } from './child.ts';
import { sleep } from './measure.ts';

const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const CWD = `${ROOT}bench/roles`;

/** Why the Celery probes cannot run here, or null when they can. */
export function celeryUnavailable(): string | null {
  try {
    execFileSync(PYTHON, ['-c', 'import celery, redis'], { stdio: 'ignore', timeout: 20_000 });
    return null;
  } catch {
    return `${PYTHON} cannot import celery and redis (apt-get install python3-celery python3-redis)`;
  }
}

function env(redisPort: number, prefix: string): NodeJS.ProcessEnv {
  return { ...process.env, CELERY_BENCH_REDIS: `redis://127.0.0.1:${redisPort}/15`, CELERY_BENCH_PREFIX: prefix };
}

/** Start `celery worker` (prefork, `concurrency` processes); resolves once it logged "ready". */
async function startWorker(redisPort: number, prefix: string, concurrency: number): Promise<ChildProcess> {
  const proc = spawn(PYTHON, ['-m', 'celery', '-A', 'celery_bench', 'worker', '-c', String(concurrency), '-P', 'prefork', '--without-heartbeat', '--without-gossip', '--without-mingle', '-l', 'INFO'], {
    cwd: CWD,
    env: env(redisPort, prefix),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`celery worker not ready after 30 s:\n${out.slice(-2000)}`)), 30_000);
    const check = (d: Buffer) => {
      out += d.toString();
      if (/ ready\./.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout?.on('data', check);
    proc.stderr?.on('data', check);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`celery worker exited (${code}) before ready:\n${out.slice(-2000)}`));
    });
  });
  return proc;
}

function stopWorker(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null) return resolve();
    const kill = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    proc.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

/** Run `celery_bench.py <args>` and parse its one JSON result line. */
function runScript(redisPort: number, prefix: string, args: string[], timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const proc = spawn(PYTHON, ['celery_bench.py', ...args], { cwd: CWD, env: env(redisPort, prefix), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    proc.once('exit', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code === 0 && line) resolve(JSON.parse(line) as Record<string, unknown>);
      else reject(new Error(`celery_bench.py ${args[0]} exited ${code}:\n${err}`));
    });
  });
}

/**
 * Celery noop e2e: the worker starts first, the producer publishes `noop(i)` i = 0..n-1 (after a
 * warm-up), tasks/s = n / (last completion − producer start); every id must arrive exactly once.
 */
export async function celeryE2e(redisPort: number, n: number, warmup: number, concurrency: number, timeoutMs: number): Promise<{ value: number; detail: Record<string, unknown> }> {
  const prefix = `celery-bench-${Math.random().toString(36).slice(2, 10)}`;
  const redis = new Redis({ port: redisPort, db: 15, lazyConnect: true });
  await redis.connect();
  const worker = await startWorker(redisPort, prefix, concurrency);
  try {
    const p = await runScript(redisPort, prefix, ['produce', String(n), String(warmup)], timeoutMs);
    const deadline = Date.now() + timeoutMs;
    let count = 0;
    while (Date.now() < deadline) {
      count = Number((await redis.get(`${prefix}:count`)) ?? 0);
      if (count >= n) break;
      await sleep(50);
    }
    const [tLast, seen, dup] = await Promise.all([redis.get(`${prefix}:t_last`), redis.scard(`${prefix}:seen`), redis.get(`${prefix}:dup`)]);
    const duplicates = Number(dup ?? 0);
    if (seen !== n || duplicates !== 0) throw new Error(`celery delivery check failed: ${seen} of ${n} ids seen, ${duplicates} duplicates`);
    const ms = Number(tLast) - Number(p.t_start);
    return { value: Math.round((n / ms) * 1000), detail: { producer: p, e2e_ms: ms, unique: seen, duplicates, concurrency } };
  } finally {
    await stopWorker(worker);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
}

/** Celery round trip: `lanes` threads of `add.delay(i, 1).get()` against a started worker. */
export async function celeryRoundTrip(redisPort: number, n: number, lanes: number, warmup: number, concurrency: number, timeoutMs: number): Promise<{ value: number; p50: number; p99: number; detail: Record<string, unknown> }> {
  const prefix = `celery-bench-${Math.random().toString(36).slice(2, 10)}`;
  const worker = await startWorker(redisPort, prefix, concurrency);
  try {
    const r = await runScript(redisPort, prefix, ['rt', String(n), String(lanes), String(warmup)], timeoutMs);
    if (r.wrong_results !== 0) throw new Error(`${String(r.wrong_results)} wrong results`);
    return { value: Number(r.tasks_s), p50: Number(r.p50_ms), p99: Number(r.p99_ms), detail: { ...r, concurrency } };
  } finally {
    await stopWorker(worker);
  }
}
