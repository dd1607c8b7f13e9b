/**
 * `npm run bench [-- <scenario>...]`: runs the benchmark scenarios one after the other, each in its
 * own process (it starts its own nats-server and role processes), and stops at none: a failed
 * scenario is reported and the next one runs. Exit code 1 when any failed.
 *
 *   npm run bench                      # every scenario (long: see docs/benchmarks.md)
 *   npm run bench -- throughput        # W1 noop throughput, peers, W7 tracing
 *   npm run bench -- latency io        # W2 open-loop latency, W4 I/O concurrency
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { ROOT, buildRoles } from './lib/child.ts';

/** Scenario name → script, in the order `npm run bench` runs them. */
export const SCENARIOS: Readonly<Record<string, { script: string; what: string }>> = {
  throughput: { script: 'bench/throughput.ts', what: 'W1 noop throughput (enqueue, e2e, drain, results), round trip, raw JetStream and BullMQ peers, W7 tracing' },
  latency: { script: 'bench/latency.ts', what: 'W2 open-loop latency at 25/50/75/90 % of the measured maximum' },
  cpu: { script: 'bench/cpu-tasks.ts', what: 'W3 CPU tasks (1 ms and 10 ms of work) across thread counts' },
  io: { script: 'bench/io-tasks.ts', what: 'W4 I/O tasks: sleep(1 s) with 1k, 10k and 50k slots (RSS, event-loop lag)' },
  canvas: { script: 'bench/canvas.ts', what: 'W5 canvas: chain of 10, chord of 1,000' },
  retries: { script: 'bench/retries.ts', what: 'W6 retries and delayed tasks' },
  scheduler: { script: 'bench/scheduler.ts', what: '100k delayed tasks: lateness, memory' },
};

function run(script: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, stdio: 'inherit', env: process.env });
    const stop = () => child.kill('SIGINT');
    process.once('SIGINT', stop);
    child.once('exit', (code, signal) => {
      process.off('SIGINT', stop);
      resolve(code ?? (signal ? 130 : 1));
    });
  });
}

async function main(): Promise<number> {
  const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = asked.filter((a) => !(a in SCENARIOS));
  if (unknown.length > 0) {
    console.error(`unknown scenario(s): ${unknown.join(', ')}\nscenarios:\n${Object.entries(SCENARIOS).map(([k, v]) => `  ${k.padEnd(11)} ${v.what}`).join('\n')}`);
    return 2;
  }
  const names = asked.length > 0 ? asked : Object.keys(SCENARIOS);
  const failed: string[] = [];
  // The roles run built (bench/lib/child.ts): one build for every scenario of this run.
  buildRoles();
  for (const name of names) {
    const s = SCENARIOS[name] as { script: string; what: string };
    console.log(`\n=== ${name}: ${s.what} ===\n`);
    const code = await run(s.script);
    if (code === 130) return 130;
    if (code !== 0) failed.push(name);
  }
  if (failed.length > 0) console.log(`\nscenarios that failed: ${failed.join(', ')}`);
  return failed.length > 0 ? 1 : 0;
}

main().then((code) => process.exit(code));
