/**
 * Spawning bench roles as child processes and reading their one-JSON-line protocol (see `emit()` in
 * measure.ts). By default a role runs as JavaScript that tsc built into `bench/.build/`
 * (`node bench/.build/bench/roles/<role>.js ...`), as a deployed app runs (`-A dist/tasks.js` in
 * docs/guide/deployment): no tsx loader thread in the process (~38 MB of resident memory) and no
 * tsx `__name` helper on every named closure. `BENCH_BUILT=0` runs them from source through tsx
 * (`node --import tsx bench/roles/<role>.ts ...`), as `celeriac worker -A tasks.ts` does.
 * @module
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Roles run built (the default) or from source through tsx (`BENCH_BUILT=0`). */
export const BUILT_ROLES = process.env.BENCH_BUILT !== '0';

/**
 * Build src/, plugins/ and bench/ into bench/.build/ with tsc (a few seconds), once: `npm run bench`
 * builds before the first scenario and tells the scenarios (`BENCH_BUILD_READY=1`); a scenario run
 * on its own builds when it starts its first role.
 */
export function buildRoles(): void {
  if (!BUILT_ROLES || process.env.BENCH_BUILD_READY === '1') return;
  execFileSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, '-p', `${ROOT}bench/tsconfig.build.json`], { cwd: ROOT, stdio: 'inherit', timeout: 300_000 });
  process.env.BENCH_BUILD_READY = '1';
}

/** The node arguments that run role `script` (a file of bench/roles/). */
function roleCommand(script: string): string[] {
  if (!BUILT_ROLES) return ['--import', 'tsx', `bench/roles/${script}`];
  buildRoles();
  return [`bench/.build/bench/roles/${script.replace(/\.ts$/, '.js')}`];
}

/** A role process. */
export interface RoleProcess {
  readonly name: string;
  readonly proc: ChildProcess;
  /** Resolves when the role printed `{"event":"ready"}`; rejects if it ended first. */
  readonly ready: Promise<void>;
  /** Resolves with the `result` line's fields; rejects on an `error` line, a crash or the time limit. */
  readonly result: Promise<Record<string, unknown>>;
  /** SIGTERM (then SIGKILL after 3 s) unless it already exited. */
  stop(): void;
  /** Last lines of stderr, for error reports. */
  stderrTail(): string;
}

const live = new Set<ChildProcess>();

/** SIGKILL every role process still running (used on the way out, even after an error). */
export function killAllRoles(): void {
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  live.clear();
}

/**
 * Start `bench/roles/<script>` with `args`. The process is killed after `timeoutMs` whatever it is
 * doing, so a hung probe costs at most that long.
 */
export function startRole(script: string, args: readonly (string | number)[], timeoutMs: number, env: Record<string, string> = {}): RoleProcess {
  const name = `${script} ${args[0] ?? ''}`.trim();
  // BENCH_CPU_PROF=<dir>: every role writes V8 CPU profiles (node --cpu-prof) under <dir>/<role>/.
  // One folder per role: each thread (the main one, tsx's loader) writes its own CPU.<date>.<pid>.<tid>... file.
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}/${script.replace(/\W+/g, '-')}`] : [];
  // BENCH_WORKER_FLAGS="--max-semi-space-size=64 ...": node flags for the worker roles only (a
  // worker's heap tuning measured without changing the producer's or the baselines').
  const workerFlags = /worker/.test(script) && process.env.BENCH_WORKER_FLAGS ? process.env.BENCH_WORKER_FLAGS.split(/\s+/).filter(Boolean) : [];
  const proc = spawn(process.execPath, [...prof, ...workerFlags, ...roleCommand(script), ...args.map(String)], {
    cwd: ROOT,
    env: { ...process.env, BENCH_ROLE_DEADLINE_MS: String(Math.max(5_000, timeoutMs - 2_000)), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  let stderr = '';
  let stdoutBuf = '';
  let readyResolve: () => void = () => undefined;
  let readyReject: (e: Error) => void = () => undefined;
  const ready = new Promise<void>((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  ready.catch(() => undefined);
  let outcome: { ok: true; fields: Record<string, unknown> } | { ok: false; error: Error } | undefined;
  const killTimer = setTimeout(() => {
    outcome ??= { ok: false, error: new Error(`${name}: killed after ${timeoutMs} ms`) };
    proc.kill('SIGKILL');
  }, timeoutMs);
  proc.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8_000);
  });
  proc.stdout?.on('data', (d: Buffer) => {
    stdoutBuf += d.toString();
    let nl: number;
    while ((nl = stdoutBuf.indexOf('\n')) >= 0) {
      const line = stdoutBuf.slice(0, nl).trim();
      stdoutBuf = stdoutBuf.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      const { event, ...fields } = msg;
      if (event === 'ready') readyResolve();
      else if (event === 'result') outcome ??= { ok: true, fields };
      else if (event === 'error') outcome ??= { ok: false, error: new Error(`${name}: ${String(fields.message)}${fields.stack ? `\n${String(fields.stack)}` : ''}`) };
    }
  });
  const result = new Promise<Record<string, unknown>>((resolve, reject) => {
    proc.once('exit', (code, signal) => {
      clearTimeout(killTimer);
      live.delete(proc);
      const tail = stderr.trim() ? `\n--- stderr (tail) ---\n${stderr.trim().slice(-2_000)}` : '';
      const o = outcome ?? { ok: false as const, error: new Error(`${name}: exited (${code ?? signal}) without a result`) };
      readyReject(new Error(`${name}: exited before it was ready${tail}`));
      if (o.ok && code === 0) resolve(o.fields);
      else reject(o.ok ? new Error(`${name}: exit code ${code ?? signal}${tail}`) : new Error(`${o.error.message}${tail}`));
    });
  });
  result.catch(() => undefined);
  return {
    name,
    proc,
    ready,
    result,
    stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      setTimeout(() => {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      }, 3_000).unref();
    },
    stderrTail: () => stderr.slice(-2_000),
  };
}

/** Run a role to completion and return its result fields. */
export function runRoleProcess(script: string, args: readonly (string | number)[], timeoutMs: number, env: Record<string, string> = {}): Promise<Record<string, unknown>> {
  return startRole(script, args, timeoutMs, env).result;
}
