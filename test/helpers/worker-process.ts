import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A `celeriac worker` child process running test/fixtures/it-tasks.ts. */
export interface WorkerProcess {
  readonly proc: ChildProcess;
  output(): string;
  /** Resolves once the worker logged "worker ready". */
  ready: Promise<void>;
  /** Resolves with the exit code (or signal) when the process ends. */
  exited: Promise<number | NodeJS.Signals | null>;
}

/** Start the real CLI worker (`bin/celeriac.js worker`) for the fixture tasks module. */
export function startWorkerProcess(opts: {
  broker: string;
  app: string;
  ackWaitMs?: number;
  args?: string[];
  env?: Record<string, string>;
  /** Tasks module, relative to the repository root. @defaultValue `test/fixtures/it-tasks.ts` */
  module?: string;
}): WorkerProcess {
  let out = '';
  const proc = spawn(
    process.execPath,
    [`${ROOT}bin/celeriac.js`, 'worker', '-A', `${ROOT}${opts.module ?? 'test/fixtures/it-tasks.ts'}`, '-b', opts.broker, '--loglevel', 'info', ...(opts.args ?? [])],
    {
      cwd: ROOT,
      env: { ...process.env, IT_APP: opts.app, ...(opts.ackWaitMs ? { IT_ACK_WAIT: String(opts.ackWaitMs) } : {}), ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => proc.once('exit', (code, sig) => resolve(code ?? sig)));
  const ready = new Promise<void>((resolve, reject) => {
    const check = () => {
      if (out.includes('worker ready')) resolve();
    };
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      check();
    });
    proc.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
      check();
    });
    void exited.then((c) => reject(new Error(`worker exited (${String(c)}) before ready:\n${out}`)));
  });
  ready.catch(() => undefined);
  return { proc, output: () => out, ready, exited };
}
