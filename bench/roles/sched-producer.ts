/**
 * Producer of the scheduler bench: publishes `n` delayed tasks `sched.noop(i, eta)` with
 * `applyAsync([i, eta], { eta, ignoreResult: true })`, in batches of `batch` (each batch awaited
 * before the next). Due times are uniform over [base + fromMs, base + toMs] (a seeded PRNG, in
 * random order of i), whole milliseconds, so the stored `eta` header is exactly the argument.
 *
 *   node --import tsx bench/roles/sched-producer.ts <url> <app> <n> <base> <fromMs> <toMs> <batch> <seed>
 * @module
 */
import { epochMs, num, perSecond, prng, runRole } from '../lib/measure.ts';
import { schedApp } from './sched-app.ts';

const [url = '', appName = 'bench-sched', nArg, baseArg, fromArg, toArg, batchArg, seedArg] = process.argv.slice(2);
const n = num(nArg, 100_000);
const base = num(baseArg, Date.now());
const fromMs = num(fromArg, 20_000);
const toMs = num(toArg, 50_000);
const batch = num(batchArg, 1000);
const seed = num(seedArg, 1);


runRole('sched-producer', num(process.env.BENCH_ROLE_DEADLINE_MS, 120_000), async () => {
  const { app, noop } = schedApp(appName, url);
  const rand = prng(seed);
  let etaMin = Number.POSITIVE_INFINITY;
  let etaMax = 0;
  const tStart = epochMs();
  for (let from = 0; from < n; from += batch) {
    const pending: Promise<unknown>[] = [];
    for (let i = from; i < Math.min(n, from + batch); i++) {
      const eta = Math.floor(base + fromMs + rand() * (toMs - fromMs));
      if (eta < etaMin) etaMin = eta;
      if (eta > etaMax) etaMax = eta;
      pending.push(noop.applyAsync([i, eta], { eta: new Date(eta), ignoreResult: true }));
    }
    await Promise.all(pending);
  }
  const tPublished = epochMs();
  await app.close();
  return {
    probe: 'sched-producer',
    n,
    batch,
    base,
    t_start: tStart,
    t_published: tPublished,
    publish_tasks_s: perSecond(n, tPublished - tStart),
    eta_min: etaMin,
    eta_max: etaMax,
  };
});
