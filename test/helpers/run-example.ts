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

/** The lines examples/04-audit-plugin prints (the audit entries in a fixed order). */
export const AUDIT_LINES = [
  'result -> invoice for ACME',
  'audit  -> sent billing.invoice by billing-service',
  'audit  -> failed billing.invoice by billing-service (PDF renderer busy)',
  'audit  -> retried billing.invoice by worker (PDF renderer busy)',
  'audit  -> ran billing.invoice by billing-service',
];

/** The lines examples/06-message-signing prints, in order. */
export const SIGNING_LINES = [
  /^signed task {8}-> refunded 1250 on order-7$/,
  /^forged {13}-> dead-lettered \(unauthenticated\): bad_signature: the signature does not match the message \(key prod-2025\)$/,
  /^unsigned {11}-> dead-lettered \(unauthenticated\): unsigned: /,
  /^unsigned shutdown {2}-> E_UNAUTHORIZED; worker running$/,
  /^refused by reason {2}-> \{"unsigned":2,"bad_signature":1,"unknown_key":0,"expired":0,"replayed":0,"decrypt_failed":0\}$/,
  /^done$/,
];

/** The lines examples/05-tracing prints before its span tree (the first names the broker). */
export const TRACING_LINES = [
  /^worker and API started on \S+$/,
  /^POST \/orders\s+-> 202 [0-9a-f-]{36}$/,
  /^GET \/orders\/:id\s+-> SUCCESS: order A-[0-9a-f]{8} for Ada confirmed: 17\.25 EUR, checksum [0-9a-f]{12}$/,
];

/**
 * The span tree examples/05-tracing must print, one trace: [depth, name, kind, recorded in a CPU
 * thread]. The route's SERVER span is the root; the client's `apply chain` span sits between it and
 * the first publish; each worker publishes the next step inside its `process` span; the span the CPU
 * task creates in its thread is a child of that task's `process` span.
 */
export const TRACING_TREE: ReadonlyArray<readonly [number, string, string, boolean]> = [
  [0, 'POST /orders', 'SERVER', false],
  [1, 'apply chain', 'INTERNAL', false],
  [2, 'publish orders.receive', 'PRODUCER', false],
  [3, 'process orders.receive', 'CONSUMER', false],
  [4, 'publish orders.checksum', 'PRODUCER', false],
  [5, 'process orders.checksum', 'CONSUMER', false],
  [6, 'checksum order', 'INTERNAL', true],
  [6, 'publish orders.notify', 'PRODUCER', false],
  [7, 'process orders.notify', 'CONSUMER', false],
];

/**
 * The span tree in examples/05-tracing's output: the `trace <id>` lines, and each span line as
 * [depth, name, kind, recorded in a CPU thread]. A line of the tree that is not a plain span line
 * (an orphan, a span in another trace than its parent) fails the match.
 */
export function printedTrace(lines: readonly string[]): { traces: string[]; spans: Array<[number, string, string, boolean]> } {
  const start = lines.findIndex((l) => l.startsWith('trace '));
  const end = lines.lastIndexOf('done');
  const traces: string[] = [];
  const spans: Array<[number, string, string, boolean]> = [];
  if (start < 0) return { traces, spans };
  for (const line of lines.slice(start, end < 0 ? undefined : end)) {
    const t = /^trace ([0-9a-f]{32})$/.exec(line);
    if (t) {
      traces.push(t[1] as string);
      continue;
    }
    const m = /^( *)(\S.*?) \[([A-Z]+)\] \d+\.\d ms(, in CPU thread \d+)?$/.exec(line);
    if (!m) throw new Error(`not a span line of the tree: ${JSON.stringify(line)}`);
    spans.push([(m[1] as string).length / 2, m[2] as string, m[3] as string, m[4] !== undefined]);
  }
  return { traces, spans };
}

/**
 * The lines examples/express and examples/fastify print after `worker and API started on <broker>`:
 * the 202 with its Location, every progress update over SSE then the final state, the stored state,
 * a 404 for an id the API never handed out, and a stream the client left early, closed at once.
 */
export const HTTP_API_LINES = [
  /^POST \/tasks {13}-> 202 \/tasks\/[0-9a-f-]{36}$/,
  /^SSE \/tasks\/:id\/events {3}-> 1\/4, 2\/4, 3\/4, 4\/4, success \{"title":"sales","rows":4\}$/,
  /^GET \/tasks\/:id {10}-> SUCCESS \{"title":"sales","rows":4\}$/,
  /^GET \/tasks\/no-such-task -> 404 unknown task id$/,
  /^SSE client left {9}-> after "pending", 0 streams open$/,
  /^done$/,
];
