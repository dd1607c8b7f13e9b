/**
 * The producer of the canvas bench: for each run, (1) `chains` chains of 10 `add` steps one after
 * another vs the same 10 steps as single round trips (delay + get, 10 × per chain); (2) a chord of
 * `size` header tasks and a `tsum` body vs `size` independent round trips (all published through a
 * window of 256, then all awaited). Every value is checked. Run 0 is the warm-up.
 *
 *   node --import tsx bench/roles/canvas-producer.ts <url> <app> <runs> <chains> <size>
 * @module
 */
import { chain, chord } from '../../src/index.ts';
import { createWindow, epochMs, num, runRole } from '../lib/measure.ts';
import { canvasApp } from './canvas-app.ts';

const [url = '', appName = 'bench-canvas', runsArg, chainsArg, sizeArg] = process.argv.slice(2);
const runs = num(runsArg, 5);
const chains = num(chainsArg, 20);
const size = num(sizeArg, 1000);
const deadlineMs = num(process.env.BENCH_ROLE_DEADLINE_MS, 600_000);

runRole('canvas-producer', deadlineMs, async () => {
  const { app, add, tsum } = canvasApp(appName, url);
  const out: Array<Record<string, number>> = [];
  const expectChain = 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10;
  const expectChord = size * (size - 1);
  for (let run = 0; run <= runs; run++) {
    // Chain of 10 vs 10 single round trips.
    let t = epochMs();
    for (let c = 0; c < chains; c++) {
      const r = await chain(add.s(0, 1), ...Array.from({ length: 9 }, (_, i) => add.s(i + 2))).applyAsync();
      const v = await r.get({ timeout: '60s' });
      if (v !== expectChain) throw new Error(`chain ${c} of run ${run} gave ${v}, expected ${expectChain}`);
    }
    const chainMs = (epochMs() - t) / chains;
    t = epochMs();
    for (let c = 0; c < chains; c++) {
      let v = await (await add.delay(0, 1)).get({ timeout: '60s' });
      for (let i = 2; i <= 10; i++) v = await (await add.delay(v, i)).get({ timeout: '60s' });
      if (v !== expectChain) throw new Error(`single round trips gave ${v}, expected ${expectChain}`);
    }
    const singlesMs = (epochMs() - t) / chains;

    // chord(size) vs size independent round trips.
    t = epochMs();
    const cr = await chord(
      Array.from({ length: size }, (_, i) => add.s(i, i)),
      tsum.s(),
    ).applyAsync();
    const sum = await cr.get({ timeout: '120s' });
    if (sum !== expectChord) throw new Error(`chord of run ${run} gave ${sum}, expected ${expectChord}`);
    const chordMs = epochMs() - t;
    t = epochMs();
    const window = createWindow(256);
    const handles: Array<Awaited<ReturnType<typeof add.delay>>> = new Array(size);
    for (let i = 0; i < size; i++) {
      await window.room();
      window.add(add.delay(i, i).then((h) => void (handles[i] = h)));
    }
    await window.drain();
    const values = await Promise.all(handles.map((h) => h.get({ timeout: '120s' })));
    const independentSum = values.reduce((s, x) => s + x, 0);
    if (independentSum !== expectChord) throw new Error(`independent round trips summed to ${independentSum}, expected ${expectChord}`);
    const independentMs = epochMs() - t;
    if (run > 0) out.push({ run, chainMs, singlesMs, chordMs, independentMs });
  }
  await app.close();
  return { runs: out };
});
