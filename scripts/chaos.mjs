#!/usr/bin/env node
// Runs the chaos harness (test/chaos, and test/fuzz when it exists) and prints a summary table.
// Usage: node scripts/chaos.mjs [--full] [--seed N] [file...]
//   --full     the full tier (CELERIAC_CHAOS_FULL=1): the issue's figures; takes about 20 minutes
//   --seed N   reproduce a run's fault schedules (CELERIAC_CHAOS_SEED=N)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const env = { ...process.env };
const targets = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--full') env.CELERIAC_CHAOS_FULL = '1';
  else if (args[i] === '--seed') env.CELERIAC_CHAOS_SEED = args[++i];
  else targets.push(args[i]);
}
if (targets.length === 0) {
  targets.push('test/chaos');
  if (existsSync('test/fuzz')) targets.push('test/fuzz');
}
const dir = mkdtempSync(join(tmpdir(), 'celeriac-chaos-report-'));
env.CELERIAC_CHAOS_REPORT = join(dir, 'summary.jsonl');
const tier = env.CELERIAC_CHAOS_FULL === '1' ? 'full' : 'fast';
console.log(`chaos ${tier} tier: ${targets.join(' ')}${env.CELERIAC_CHAOS_SEED ? ` (seed ${env.CELERIAC_CHAOS_SEED})` : ''}`);
const started = Date.now();
const r = spawnSync(process.execPath, ['scripts/test.mjs', ...targets], { stdio: 'inherit', env });

const rows = existsSync(env.CELERIAC_CHAOS_REPORT)
  ? readFileSync(env.CELERIAC_CHAOS_REPORT, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
  : [];
rmSync(dir, { recursive: true, force: true });
const cols = ['scenario', 'tier', 'seed', 'tasks', 'faults', 'lost', 'dup-exec', 'dup-effect', 'verdict', 'wall'];
const table = rows.map((x) => [x.scenario, x.tier, String(x.seed), String(x.tasks), x.faults, String(x.lost), String(x.dupExec), String(x.dupEffect), x.verdict, `${(x.wallMs / 1000).toFixed(1)} s`]);
const width = cols.map((c, i) => Math.max(c.length, ...table.map((t) => t[i].length)));
const line = (cells) => `| ${cells.map((c, i) => c.padEnd(width[i])).join(' | ')} |`;
console.log(`\n${line(cols)}\n|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const t of table) console.log(line(t));
for (const x of rows) console.log(`  ${x.scenario}: ${x.notes}`);
console.log(`\nseeds: ${rows.map((x) => `${x.scenario}=${x.seed}`).join(' ')}; wall ${((Date.now() - started) / 1000).toFixed(0)} s; load ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
process.exit(r.status ?? 1);
