/**
 * What examples/image-processing must print, and the files it must leave in IMAGES_DIR, shared by its
 * unit (memory://) and integration (NATS) tests.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Jimp } from 'jimp';
import type { Manifest } from '../../examples/image-processing/tasks.ts';
import { runExample } from './run-example.ts';

/** The lines examples/image-processing prints, in order. */
export const IMAGE_PROCESSING_LINES = [
  /^upload sunset\.png {3}-> valid PNG 1200x800, stored as [0-9a-f]{16}\/original\.png$/,
  /^thumbnail 150w {6}-> 150x100 thumb-150w\.jpg$/,
  /^thumbnail 300w {6}-> 300x200 thumb-300w\.jpg$/,
  /^thumbnail 600w {6}-> 600x400 thumb-600w\.jpg$/,
  /^responsive 480w {5}-> 480x320 responsive-480w\.jpg$/,
  /^responsive 768w {5}-> 768x512 responsive-768w\.jpg$/,
  /^responsive 1024w {4}-> 1024x683 responsive-1024w\.jpg$/,
  /^filter greyscale {4}-> 1200x800 filter-greyscale\.jpg$/,
  /^filter blur {9}-> 1200x800 filter-blur\.jpg$/,
  /^filter sepia {8}-> 1200x800 filter-sepia\.jpg$/,
  /^responsive 1200w {4}-> skipped: not narrower than the 1200 px original$/,
  /^responsive 1920w {4}-> skipped: not narrower than the 1200 px original$/,
  /^manifest {12}-> manifest\.json lists 9 files, 2 skipped; all made in CPU threads$/,
  /^upload notes\.txt {4}-> rejected: ValidationError: notes\.txt: content type text\/plain is not one of image\/png, image\/jpeg$/,
  /^upload fake\.png {5}-> rejected: ValidationError: fake\.png is declared image\/png but is not a PNG file$/,
  /^upload tiny\.png {5}-> rejected: ValidationError: tiny\.png is 64x64, under the 100x100 minimum$/,
  /^upload huge\.png {5}-> rejected: ValidationError: huge\.png is 60\.0 MiB, over the 50 MiB limit$/,
  /^dead letters {8}-> 4 x image\.validate \(failed, retries 0\)$/,
  /^done$/,
];

/** The files the manifest must list: [kind, name, file, width, height]. */
const EXPECTED: ReadonlyArray<readonly [string, string, string, number, number]> = [
  ['thumbnail', '150w', 'thumb-150w.jpg', 150, 100],
  ['thumbnail', '300w', 'thumb-300w.jpg', 300, 200],
  ['thumbnail', '600w', 'thumb-600w.jpg', 600, 400],
  ['responsive', '480w', 'responsive-480w.jpg', 480, 320],
  ['responsive', '768w', 'responsive-768w.jpg', 768, 512],
  ['responsive', '1024w', 'responsive-1024w.jpg', 1024, 683],
  ['filter', 'greyscale', 'filter-greyscale.jpg', 1200, 800],
  ['filter', 'blur', 'filter-blur.jpg', 1200, 800],
  ['filter', 'sepia', 'filter-sepia.jpg', 1200, 800],
];

/**
 * Runs the example with IMAGES_DIR set to a fresh folder, checks its lines in order, then checks the
 * store on disk: one image folder (the bad uploads stored nothing), its manifest listing every
 * derivative with the size and byte count of the file next to it, each file decoding to the listed
 * dimensions, and the filters really applied (greyscale is grey, sepia and blur are not the original).
 */
export async function checkImageProcessingExample(broker?: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'celeriac-images-test-'));
  const before = process.env.IMAGES_DIR;
  process.env.IMAGES_DIR = dir;
  try {
    const lines = (await runExample('examples/image-processing/main.ts', broker)).trim().split('\n');
    assert.equal(lines.length, IMAGE_PROCESSING_LINES.length, lines.join('\n'));
    IMAGE_PROCESSING_LINES.forEach((re, i) => assert.match(lines[i] ?? '', re, lines.join('\n')));

    const store = join(dir, 'store');
    const ids = await readdir(store);
    assert.equal(ids.length, 1, `one stored image, the bad uploads stored nothing: ${ids.join(', ')}`);
    const imageDir = join(store, ids[0] as string);
    const manifest = JSON.parse(await readFile(join(imageDir, 'manifest.json'), 'utf8')) as Manifest;
    assert.equal(manifest.imageId, ids[0]);
    assert.match(lines[0] ?? '', new RegExp(`stored as ${manifest.imageId}/original\\.png$`));

    const original = await Jimp.read(manifest.original.path);
    assert.deepEqual([original.bitmap.width, original.bitmap.height, manifest.original.width, manifest.original.height], [1200, 800, 1200, 800]);
    assert.equal(manifest.original.bytes, (await stat(manifest.original.path)).size);

    assert.deepEqual(
      manifest.derivatives.map((d) => [d.kind, d.name, d.path, d.width, d.height]),
      EXPECTED.map(([kind, name, file, w, h]) => [kind, name, join(imageDir, file), w, h]),
    );
    for (const d of manifest.derivatives) {
      assert.equal(d.bytes, (await stat(d.path)).size, `${d.path}: bytes in the manifest`);
      const image = await Jimp.read(d.path);
      assert.deepEqual([image.bitmap.width, image.bitmap.height], [d.width, d.height], `${d.path} decodes at its listed size`);
    }
    assert.deepEqual(
      manifest.skipped.map((s) => s.name),
      ['1200w', '1920w'],
    );
    assert.deepEqual((await readdir(imageDir)).sort(), ['manifest.json', 'original.png', ...EXPECTED.map((e) => e[2])].sort());

    // The filters did what they say: each file is the original through that filter (up to JPEG
    // noise); greyscale has R = G = B, sepia is far from the original, blur smooths the edges.
    const filtered = async (name: string) => (await Jimp.read(join(imageDir, `filter-${name}.jpg`))).bitmap.data;
    const grey = await filtered('greyscale');
    const sepia = await filtered('sepia');
    const blur = await filtered('blur');
    assert.ok(meanAbsDiff(grey, original.clone().greyscale().bitmap.data) < 3, 'filter-greyscale.jpg is the original in greyscale');
    assert.ok(meanAbsDiff(sepia, original.clone().sepia().bitmap.data) < 3, 'filter-sepia.jpg is the original in sepia');
    assert.ok(meanAbsDiff(blur, original.clone().blur(4).bitmap.data) < 3, 'filter-blur.jpg is the original blurred');
    assert.ok(maxChannelSpread(original.bitmap.data) > 100 && maxChannelSpread(grey) <= 8, 'greyscale pixels are grey, the original is not');
    assert.ok(meanAbsDiff(sepia, original.bitmap.data) > 20, 'sepia changes the colours');
    assert.ok(edgeEnergy(blur) < edgeEnergy(original.bitmap.data) * 0.3, 'blur softens the sharp edges');
  } finally {
    if (before === undefined) delete process.env.IMAGES_DIR;
    else process.env.IMAGES_DIR = before;
    await rm(dir, { recursive: true, force: true });
  }
}

/** The largest difference between the R, G and B of one pixel, over every pixel (RGBA data). */
function maxChannelSpread(data: Buffer): number {
  let max = 0;
  for (let i = 0; i < data.length; i += 4) {
    const r = data[i] as number;
    const g = data[i + 1] as number;
    const b = data[i + 2] as number;
    max = Math.max(max, Math.max(r, g, b) - Math.min(r, g, b));
  }
  return max;
}

/** Mean absolute difference per channel between two RGBA images of the same size. */
function meanAbsDiff(a: Buffer, b: Buffer): number {
  assert.equal(a.length, b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs((a[i] as number) - (b[i] as number));
  return sum / a.length;
}

/** Sum of the squared differences between each byte and the one 4 bytes on (the next pixel's channel): sharp edges weigh most. */
function edgeEnergy(data: Buffer): number {
  let sum = 0;
  for (let i = 4; i < data.length; i++) sum += ((data[i] as number) - (data[i - 4] as number)) ** 2;
  return sum;
}
