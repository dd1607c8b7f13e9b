/**
 * Process control for the worker processes a chaos scenario spawns: real `celeriac worker` CLI
 * children running test/chaos/fixtures/chaos-tasks.ts. Only processes started here are signalled
 * (by pid). A {@link WorkerGroup} keeps N slots filled and restarts a worker that died, as a
 * process supervisor (systemd `Restart=always`, a Kubernetes pod) would.
 */
import { startWorkerProcess, type WorkerProcess } from '../../helpers/worker-process.ts';

/** Where the chaos fixture module is, relative to the repository root. */
export const CHAOS_MODULE = 'test/chaos/fixtures/chaos-tasks.ts';

/** How to start one worker of a scenario. */
export interface ChaosWorkerSpec {
  /** Broker URL, or one per worker slot (e.g. each worker through its own fault proxy). */
  broker: string | ((slot: number) => string);
  app: string;
  /** Environment of the fixture module (CHAOS_*). */
  env: Record<string, string>;
  /** Extra CLI arguments (e.g. `-c 8`). */
  args?: string[];
}

/** Start one chaos worker process named `name`. */
export function startChaosWorker(spec: ChaosWorkerSpec, name: string, slot = 0): WorkerProcess {
  return startWorkerProcess({
    broker: typeof spec.broker === 'string' ? spec.broker : spec.broker(slot),
    app: spec.app,
    module: CHAOS_MODULE,
    env: { CHAOS_APP: spec.app, ...spec.env },
    args: ['-n', name, ...(spec.args ?? [])],
  });
}

/** One slot of a {@link WorkerGroup}. */
interface Slot {
  name: string;
  proc: WorkerProcess;
  restarts: number;
}

/** N worker processes, restarted when they die (unless the group is stopping). */
export class WorkerGroup {
  readonly #spec: ChaosWorkerSpec;
  readonly #slots: Slot[] = [];
  #stopping = false;
  /** Every process ever started (for cleanup). */
  readonly all: WorkerProcess[] = [];
  /** Exits nobody asked for (code or signal), e.g. a poison task's `process.exit`. */
  unexpectedExits = 0;
  readonly #expected = new Set<number>();

  constructor(spec: ChaosWorkerSpec, count: number) {
    this.#spec = spec;
    for (let i = 0; i < count; i++) this.#slots.push({ name: `w${i}@chaos`, proc: this.#spawn(`w${i}@chaos`, i), restarts: 0 });
  }

  #spawn(name: string, index: number): WorkerProcess {
    const p = startChaosWorker(this.#spec, name, index);
    this.all.push(p);
    void p.exited.then(() => {
      const pid = p.proc.pid ?? -1;
      if (!this.#expected.delete(pid)) this.unexpectedExits++;
      const slot = this.#slots[index];
      if (this.#stopping || !slot || slot.proc !== p) return;
      slot.restarts++;
      slot.proc = this.#spawn(name, index);
    });
    return p;
  }

  /** Resolves when every current worker logged "worker ready". */
  async ready(): Promise<void> {
    await Promise.all(this.#slots.map((s) => s.proc.ready));
  }

  /** Pids of the current workers. */
  pids(): number[] {
    return this.#slots.map((s) => s.proc.proc.pid ?? -1);
  }

  /** Restarts so far (all slots). */
  get restarts(): number {
    return this.#slots.reduce((n, s) => n + s.restarts, 0);
  }

  /** The current process of slot `i`. */
  worker(i: number): WorkerProcess {
    const s = this.#slots[i];
    if (!s) throw new Error(`no worker slot ${i}`);
    return s.proc;
  }

  get size(): number {
    return this.#slots.length;
  }

  /** SIGKILL the worker of slot `i` (it is restarted). Returns its pid and the kill time. */
  async kill(i: number): Promise<{ pid: number; at: number }> {
    const p = this.worker(i);
    const pid = p.proc.pid ?? -1;
    this.#expected.add(pid);
    const at = Date.now();
    p.proc.kill('SIGKILL');
    await p.exited;
    return { pid, at };
  }

  /** Stop every worker: SIGTERM (warm shutdown), SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    this.#stopping = true;
    for (const p of this.all) {
      if (p.proc.exitCode !== null || p.proc.signalCode !== null) continue;
      this.#expected.add(p.proc.pid ?? -1);
      p.proc.kill('SIGCONT');
      p.proc.kill('SIGTERM');
    }
    const timer = setTimeout(() => {
      for (const p of this.all) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
    }, graceMs);
    await Promise.all(this.all.map((p) => p.exited));
    clearTimeout(timer);
  }
}
