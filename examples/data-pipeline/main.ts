/**
 * The data pipeline in one process: the stub API on a free port, a worker (which runs beat, so the
 * hourly schedule is live), and one run sent through the schedule's entry instead of waiting for
 * the hour. It follows every step's progress with AsyncResult.watch() and prints one line per step,
 * the files loaded and the rows rejected. `npx tsx examples/data-pipeline/main.ts`; with
 * CELERIAC_BROKER_URL=nats://127.0.0.1:4222 the same code runs on NATS JetStream.
 *
 * The files go to a temporary folder removed at the end; set PIPELINE_OUT_DIR to keep them there.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResultRecord } from '../../src/index.ts';
import type { Aggregate, Batch, OrderRow, ValidRow } from './rows.ts';
import { PAGES, startStubApi } from './stub-api.ts';
import { type Extracted, type LoadReport, type RunStarted, type StepProgress, app, configurePipeline, hourly, pipelineConfig, runSteps } from './tasks.ts';

const say = (s: string) => process.stdout.write(s + '\n');
const line = (label: string, text: string) => say(`${label.padEnd(16)} -> ${text}`);
const eur = (n: number) => `${n.toFixed(2)} EUR`;
const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

// A clean slate when run twice against the same broker.
await app.purge('default');
await app.deadLetters.purge();

const api = await startStubApi();
const keep = process.env.PIPELINE_OUT_DIR;
const outDir = keep ?? (await mkdtemp(join(tmpdir(), 'celeriac-pipeline-')));
configurePipeline({ apiUrl: api.url, outDir });
const cfg = pipelineConfig();

// The worker runs the scheduler and beat in-process: the hourly entry is live from here on.
const worker = app.worker({ concurrency: 8 });
await worker.start();

// The entry and when beat fires it next.
const next = app.nextRun(hourly.name);
line('schedule', `${hourly.name}: ${hourly.task} at cron '${hourly.cron}' (${hourly.timezone}), next run ${next?.toISOString()}`);
const csvFiles = (await readdir(cfg.csvDir)).filter((f) => f.endsWith('.csv')).sort();
line('sources', `api ${PAGES.length} pages, csv ${csvFiles.join(' ')}, table ${cfg.tableRows} generated rows`);

// Follow every step before anything runs: each watch starts with the PENDING it reads now, so no
// progress update is missed however fast the step is.
const runId = `etl-manual-${randomUUID().slice(0, 8)}`;
const steps = runSteps(runId).map(([label, id]) => ({ label, id, updates: app.asyncResult(id).watch() }));
for (const s of steps) await s.updates.next();

// One run now, through the same entry beat fires: its task and arguments.
const started = await app.sendTask<RunStarted>(hourly.task, hourly.args, { taskId: runId, headers: { 'beat-schedule': hourly.name } });
const run = await started.get({ timeout: '10s' });
line('run', `${hourly.task} sent through ${hourly.name} (${run.trigger}): ${steps.length} tasks, 3 branches in parallel`);

/** Read a step's updates to its final state: the progress seen, and the final record. */
async function follow(s: (typeof steps)[number]): Promise<{ progress: string[]; record: ResultRecord }> {
  const progress: string[] = [];
  for await (const r of s.updates) {
    if (r.status === 'PROGRESS') {
      const p = r.meta as StepProgress;
      progress.push(progress.length === 0 ? `${p.unit} ${p.done}/${p.total}` : `${p.done}/${p.total}`);
    } else if (r.status === 'SUCCESS' || r.status === 'FAILURE' || r.status === 'REVOKED') {
      return { progress, record: r };
    }
  }
  throw new Error(`${s.label}: the watch ended without a final state`);
}

let report: LoadReport | undefined;
let rejected: Aggregate['rejected'] = [];
for (const s of steps) {
  const { progress, record } = await follow(s);
  if (record.status !== 'SUCCESS') {
    line(s.label, `${record.status}: ${record.error?.name}: ${record.error?.message}`);
    process.exitCode = 1;
    continue;
  }
  const step = s.label.split(' ')[0];
  if (step === 'extract') line(s.label, `${progress.join(', ')}: ${(record.result as Extracted).rows.length} rows`);
  else if (step === 'validate') {
    const b = record.result as Batch<ValidRow>;
    line(s.label, `${b.rows.length} valid, ${b.rejected.length} rejected`);
  } else if (step === 'clean') {
    const b = record.result as Batch<ValidRow>;
    line(s.label, `${b.rows.length} rows (${count(b.duplicates, 'duplicate')} dropped, ${count(b.normalised, 'row')} normalised)`);
  } else if (step === 'enrich') {
    const b = record.result as Batch<OrderRow>;
    line(s.label, `${b.rows.length} rows, ${eur(b.rows.reduce((sum, r) => sum + r.amountEur, 0))}`);
  } else if (step === 'aggregate') {
    const a = record.result as Aggregate;
    const days = new Set(a.daily.map((d) => d.date)).size;
    line(s.label, `chord of ${a.sources.length} branches: ${a.orders.length} orders, ${days} days, ${a.categories.length} categories, ${eur(a.revenueEur)}`);
    rejected = a.rejected;
  } else {
    report = record.result as LoadReport;
    line(s.label, progress.join(', '));
  }
}

if (report) {
  for (const f of report.files) line('loaded', `${f.name}: ${count(f.rows, f.name.endsWith('.json') ? 'source' : 'row')}`);
  line('output', keep ? report.dir : `${report.dir} (removed at exit; set PIPELINE_OUT_DIR to keep it)`);
}
for (const r of rejected) line(`rejected ${r.source}`, `${r.ref}: ${r.reason}`);

await worker.stop();
await app.close();
await new Promise((resolve) => api.server.close(resolve));
if (!keep) await rm(outDir, { recursive: true, force: true });
say('done');
