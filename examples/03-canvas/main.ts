/**
 * The canvas in one run: chain, group, chord, nesting, callbacks, a failing chord with and without
 * allowPartial, map/starmap/chunks, a workflow sent as JSON, and progress.
 * `npx tsx examples/03-canvas/main.ts`; with CELERIAC_BROKER_URL=nats://127.0.0.1:4222 the same
 * code runs on NATS JetStream. docs/guide/canvas.md explains each step.
 */
import { type Chain, chain, chord, group, isTaskError } from '../../src/index.ts';
import { add, app, countWords, fetchPage, notify, told, tsum } from './tasks.ts';

const say = (s: string) => process.stdout.write(s + '\n');
const worker = app.worker({ concurrency: 16 });
await worker.start();

// A chain passes each result on: add(2, 2), then add(4, 4), then add(8, 8).
const sum = await chain(add.s(2, 2), add.s(4), add.s(8)).applyAsync();
say(`chain      -> ${await sum.get({ timeout: '10s' })}`);

// A group runs in parallel; its result is the list, in order.
const pairs = await group(add.s(1, 1), add.s(2, 2), add.s(3, 3)).applyAsync();
say(`group      -> ${JSON.stringify(await pairs.get({ timeout: '10s' }))}`);

// A chord gives the header's results (in header order) to its body, once.
const urls = ['https://a.example', 'https://bb.example', 'https://ccc.example'];
const words = await chord(urls.map((u) => fetchPage.s(u)), countWords.s()).applyAsync();
say(`chord      -> ${await words.get({ timeout: '10s' })} words`);

// A group in the middle of a chain becomes a chord: add(1, 1) -> [2 + 10, 2 + 20] -> sum.
const nested = await chain(add.s(1, 1), group(add.s(10), add.s(20)), tsum.s()).applyAsync();
say(`nested     -> ${await nested.get({ timeout: '10s' })}`);

// Callbacks: link runs with the result, linkError with the task id and the error.
await (await add.s(20, 22).set({ link: notify.s('sum ready') }).applyAsync()).get({ timeout: '10s' });
const lost = await fetchPage.s('https://missing.example').set({ linkError: notify.si('fetch failed') }).applyAsync();
await lost.get({ timeout: '10s' }).catch(() => undefined);
await new Promise((r) => setTimeout(r, 200));
say(`callbacks  -> ${told.join('; ')}`);

// A failing header member: the body does not run, the chord fails with a ChordError naming it.
const broken = await chord([fetchPage.s('https://a.example'), fetchPage.s('https://missing.example')], countWords.s()).applyAsync();
try {
  await broken.get({ timeout: '10s' });
} catch (err) {
  if (!isTaskError(err)) throw err;
  say(`chord fail -> ${err.remote.name}: member #${(err.remote.data as { index: number }).index} failed`);
}

// allowPartial: the body gets every outcome, as PromiseSettledResult-shaped objects.
const partial = await chord([fetchPage.s('https://a.example'), fetchPage.s('https://missing.example')], app.signature('celeriac.identity'), {
  allowPartial: true,
}).applyAsync();
const outcomes = (await partial.get({ timeout: '10s' })) as Array<{ status: string }>;
say(`partial    -> ${outcomes.map((o) => o.status).join(', ')}`);

// map, starmap and chunks: one message per call list (or per chunk).
say(`starmap    -> ${JSON.stringify(await (await add.starmap([[1, 2], [3, 4]]).applyAsync()).get({ timeout: '10s' }))}`);
const chunks = await add.chunks([[1, 1], [2, 2], [3, 3], [4, 4], [5, 5]], 2).applyAsync();
say(`chunks     -> ${JSON.stringify(await chunks.get({ timeout: '10s' }))}`);

// A workflow is data: send it as JSON, rebuild it anywhere with app.signature(json).
const text = JSON.stringify(chain(add.s(1, 2), add.s(3)));
const rebuilt = app.signature(JSON.parse(text)) as Chain<number>;
say(`from JSON  -> ${await (await rebuilt.applyAsync()).get({ timeout: '10s' })}`);

// Progress of a whole workflow: completed / total tasks.
const big = await chord(Array.from({ length: 20 }, (_, i) => add.s(i, i)), tsum.s()).applyAsync();
let last = '';
for await (const p of big.watch()) last = `${p.completed}/${p.total}`;
say(`progress   -> ${last} tasks, result ${await big.get()}`);

await worker.stop();
await app.close();
say('done');
