/**
 * The seed book's image-processing service (case study 3), ported: an upload is validated and stored,
 * then thumbnails, responsive widths and filters are made in parallel in the worker's CPU threads, and
 * a chord writes the manifest once they are all done. Bad uploads fail validation, are not retried,
 * and land in the dead-letter stream. `npx tsx examples/image-processing/main.ts`; with
 * CELERIAC_BROKER_URL=nats://127.0.0.1:4222 the same code runs on NATS JetStream.
 *
 * Files go to a temporary folder removed at the end; set IMAGES_DIR to keep them in that folder.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { isTaskError } from '../../src/index.ts';
import { type Manifest, type Upload, app, processUpload } from './tasks.ts';
import { writeUploads } from './uploads.ts';

const say = (s: string) => process.stdout.write(s + '\n');
const keep = process.env.IMAGES_DIR;
const root = keep ?? (await mkdtemp(join(tmpdir(), 'celeriac-images-')));
const uploads = join(root, 'uploads');
const storeDir = join(root, 'store');
await mkdir(uploads, { recursive: true });
await mkdir(storeDir, { recursive: true });
const { good, bad } = await writeUploads(uploads);

await app.deadLetters.purge(); // a clean slate when run twice against the same broker
const worker = app.worker({ concurrency: 8, cpuThreads: 2, tasksModule: new URL('./tasks.ts', import.meta.url).href, grace: '5s' });
await worker.start();

// The good upload: validate -> store -> 11 derivative tasks in parallel -> manifest.
const run = await processUpload(good, storeDir).applyAsync();
const made = await run.get({ timeout: '60s' });
const m = JSON.parse(await readFile(made.path, 'utf8')) as Manifest;
const pad = (s: string) => s.padEnd(20);
say(`${pad(`upload ${good.filename}`)}-> valid ${m.original.format} ${m.original.width}x${m.original.height}, stored as ${m.imageId}/${basename(m.original.path)}`);
for (const d of m.derivatives) say(`${pad(`${d.kind} ${d.name}`)}-> ${d.width}x${d.height} ${basename(d.path)}`);
for (const s of m.skipped) say(`${pad(`${s.kind} ${s.name}`)}-> skipped: ${s.skipped}`);
const inThreads = made.threads.length > 0 && !made.threads.includes(0);
say(`${pad('manifest')}-> ${basename(made.path)} lists ${m.derivatives.length} files, ${m.skipped.length} skipped; ${inThreads ? 'all made in CPU threads' : 'some made on the event loop'}`);

// Bad uploads: validation throws ValidationError, which the retry policy never retries.
const rejected = async (upload: Upload) => {
  try {
    await (await processUpload(upload, storeDir).applyAsync()).get({ timeout: '30s' });
    return 'accepted?';
  } catch (err) {
    if (!isTaskError(err)) throw err;
    return `rejected: ${err.remote.name}: ${err.remote.message}`;
  }
};
const outcomes = await Promise.all(bad.map(rejected));
bad.forEach((u, i) => say(`${pad(`upload ${u.filename}`)}-> ${outcomes[i]}`));

await worker.stop(); // drains: every dead letter is written by now
const letters = await app.deadLetters.list();
const kinds = new Map<string, number>();
for (const d of letters) {
  const key = `${d.task} (${d.reason}, retries ${d.retries})`;
  kinds.set(key, (kinds.get(key) ?? 0) + 1);
}
say(`${pad('dead letters')}-> ${[...kinds].map(([key, n]) => `${n} x ${key}`).join('; ')}`);
await app.close();
if (!keep) await rm(root, { recursive: true, force: true });
say('done');
