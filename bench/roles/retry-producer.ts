/**
 * Producer of the retries bench: publishes a warm-up (negative indexes), prints `warmed`, waits for
 * the orchestrator's first `SIGUSR2`, then publishes indexes 0..n-1 and prints `published`; it
 * closes after the second `SIGUSR2` (the orchestrator's end-of-window CPU snapshot) or 15 s.
 *
 *   node --import tsx bench/roles/retry-producer.ts '<json config>'
 *
 * Config: `{ url, app, task: 'retry' | 'autoretry' | 'timed', n, warmup, window, fails, rate,
 * countdownFromMs, countdownToMs, seed, storeResults }`.
 * - `rate` 0: as fast as the window allows (`window` publishes outstanding), like the e2e probe.
 * - `rate` > 0: paced at `rate` tasks/s (at most 1,000 publishes outstanding).
 * - `task: 'timed'` with `countdownToMs` > 0: `timed.applyAsync([i, eta], { countdown })`, the
 *   countdown uniform in [from, to) ms (seeded), `eta` = `Date.now()` read just before the call +
 *   countdown (the client computes its eta from a `Date.now()` read inside the call, so `eta` is
 *   at most the real eta: lateness is never under-reported). Without countdown: `timed.delay(i, now)`.
 * @module
 */
import { createWindow, epochMs, num, perSecond, runRole, sleep } from '../lib/measure.ts';
import { prng } from '../lib/measure.ts';
import { parentSignals, retryApp, step } from './retry-app.ts';

interface ProducerConfig {
  url: string;
  app: string;
  task: 'retry' | 'autoretry' | 'timed';
  n: number;
  warmup: number;
  window: number;
  fails: number;
  rate: number;
  countdownFromMs: number;
  countdownToMs: number;
  seed: number;
  storeResults: boolean;
}

const parent = parentSignals();
const cfg = JSON.parse(process.argv[2] ?? '{}') as ProducerConfig;
const deadlineMs = num(process.env.BENCH_ROLE_DEADLINE_MS, 150_000);

runRole(`retry-producer:${cfg.task}`, deadlineMs, async () => {
  const { app, retry, autoretry, timed } = retryApp(cfg.app, cfg.url, {}, cfg.storeResults);
  const rand = prng(cfg.seed);
  const delayed = cfg.task === 'timed' && cfg.countdownToMs > 0;
  const span = Math.max(0, cfg.countdownToMs - cfg.countdownFromMs);
  const publishOne = (i: number, warm: boolean): Promise<unknown> => {
    if (cfg.task === 'retry') return retry.delay(i, cfg.fails);
    if (cfg.task === 'autoretry') return autoretry.delay(i, cfg.fails);
    if (!delayed) return timed.delay(i, Date.now());
    // The warm-up waits the shortest countdown only.
    const countdown = warm ? cfg.countdownFromMs : cfg.countdownFromMs + Math.floor(rand() * span);
    return timed.applyAsync([i, Date.now() + countdown], { countdown });
  };
  const burst = async (from: number, count: number, window: number) => {
    const w = createWindow(window);
    for (let i = from; i < from + count; i++) {
      await w.room();
      w.add(publishOne(i, i < 0));
    }
    await w.drain();
  };
  const paced = async (count: number) => {
    const w = createWindow(1000);
    const t0 = epochMs();
    let i = 0;
    let behindMax = 0;
    while (i < count) {
      const due = Math.min(count, Math.floor(((epochMs() - t0) * cfg.rate) / 1000) + 1);
      behindMax = Math.max(behindMax, due - i);
      while (i < due) {
        await w.room();
        w.add(publishOne(i++, false));
      }
      if (i < count) await sleep(Math.max(1, Math.min(5, ((i * 1000) / cfg.rate) - (epochMs() - t0))));
    }
    await w.drain();
    return behindMax;
  };

  await burst(-cfg.warmup, cfg.warmup, Math.max(cfg.window, 64));
  step('warmed');
  await parent.signal(1);
  const tStart = epochMs();
  const behindMax = cfg.rate > 0 ? await paced(cfg.n) : (await burst(0, cfg.n, cfg.window), 0);
  const tPublished = epochMs();
  step('published');
  await Promise.race([parent.signal(2), sleep(15_000)]);
  await app.close();
  return {
    probe: `retry-producer:${cfg.task}`,
    n: cfg.n,
    t_start: tStart,
    t_published: tPublished,
    publish_tasks_s: perSecond(cfg.n, tPublished - tStart),
    /** Paced: the largest number of publishes that were due at once (the pacing kept up if small). */
    paced_behind_max: behindMax,
  };
});
