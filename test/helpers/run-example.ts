import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Run an example's main.ts as `npm start` does; resolves with its stdout (rejects on a non-zero exit). */
export async function runExample(path: string, broker?: string): Promise<string> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'CELERIAC_BROKER_URL'));
  if (broker) env.CELERIAC_BROKER_URL = broker;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', `${ROOT}${path}`], {
    cwd: ROOT,
    env,
    timeout: 60_000,
  });
  return stdout;
}

/** The lines the quickstart must print, in order. */
export const QUICKSTART_LINES = [
  /^worker started on .* with tasks: crypto\.hash, data\.import, math\.add, payments\.charge, web\.greet$/,
  /^math\.add\(2, 3\)\s+-> 5$/,
  /^web\.greet\s+-> Hello, Ada!$/,
  /^web\.greet\s+-> Hello, Grace!$/,
  /^web\.greet\s+-> Hello, Linus!$/,
  /^crypto\.hash \(thread\)\s+-> [0-9a-f]{16}\.\.\.$/,
];

/** The lines examples/02-failures prints, in order. */
export const FAILURES_LINES = [
  /^rates\.fetch\s+-> \{"currency":"EUR","rate":1\.08,"retries":2\}$/,
  /^payments\.charge\s+-> ValidationError: amount must be positive, got -5 \(not retried\)$/,
  /^orders\.ship\s+-> Reject: product discontinued-lamp is discontinued$/,
  /^reports\.build\s+-> \{"rows":\d,"complete":false\} \(soft time limit\)$/,
  /^export\.all\s+-> REVOKED after revoke\(\)$/,
  /^dead letter\s+-> payments\.charge failed: amount must be positive, got -5$/,
  /^dead letter\s+-> orders\.ship rejected: product discontinued-lamp is discontinued$/,
  /^replayed payments\.charge\s+-> ValidationError: amount must be positive, got -5 \(same input, same outcome\)$/,
  /^dead letters left -> 2$/,
  /^done$/,
];


/** The lines examples/03-canvas prints, in order. */
export const CANVAS_LINES = [
  /^chain\s+-> 16$/,
  /^group\s+-> \[2,4,6\]$/,
  /^chord\s+-> 540 words$/,
  /^nested\s+-> 34$/,
  /^callbacks\s+-> 42 sum ready; fetch failed$/,
  /^chord fail -> ChordError: member #1 failed$/,
  /^partial\s+-> fulfilled, rejected$/,
  /^starmap\s+-> \[3,7\]$/,
  /^chunks\s+-> \[\[2,4\],\[6,8\],\[10\]\]$/,
  /^from JSON\s+-> 6$/,
  /^progress\s+-> 21\/21 tasks, result 380$/,
  /^done$/,
];
