/**
 * The image service of the seed book's case study 3, ported: validate an upload, store the original,
 * then in parallel thumbnails, responsive widths and filters, and a manifest once they are all done.
 * The image work is `kind: 'cpu'`: it runs in the worker's CPU threads (each imports this module) with
 * jimp, a pure-JS image library, so it is real CPU work that never blocks the event loop. Tasks pass
 * file paths to each other, never image bytes. Importing this module opens no connection.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { Jimp, JimpMime } from 'jimp';
import { type RetryOptions, chain, createApp, group } from '../../src/index.ts';

export const app = createApp({ name: 'image-service', broker: process.env.CELERIAC_BROKER_URL });

/** The book's `ImageProcessingConfig`, minus the S3 buckets (storage is a local folder here). */
export const CONFIG = {
  maxBytes: 50 * 1024 * 1024,
  minSide: 100,
  maxSide: 8000,
  thumbnailWidths: [150, 300, 600],
  responsiveWidths: [480, 768, 1024, 1200, 1920],
  filters: ['greyscale', 'blur', 'sepia'],
  jpegQuality: 85,
} as const;

/** The content types accepted, with the bytes their files start with. */
const FORMATS: Record<string, { name: 'PNG' | 'JPEG'; magic: number[] }> = {
  'image/png': { name: 'PNG', magic: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] },
  'image/jpeg': { name: 'JPEG', magic: [0xff, 0xd8, 0xff] },
};

/** A bad upload: never retried (it will be just as bad next time), straight to FAILURE. */
export class ValidationError extends Error {
  override name = 'ValidationError';
}

/** What the web tier hands over: a file it wrote to the upload folder and what the client said it is. */
export interface Upload {
  readonly path: string;
  readonly filename: string;
  readonly contentType: string;
}

export interface ValidImage {
  /** The first 16 hex digits of the file's SHA-256: the same upload gets the same id. */
  readonly imageId: string;
  readonly upload: Upload;
  readonly format: 'PNG' | 'JPEG';
  readonly width: number;
  readonly height: number;
  readonly bytes: number;
}

export interface StoredImage {
  readonly imageId: string;
  /** The image's folder in the store: the original, its derivatives and manifest.json. */
  readonly dir: string;
  readonly path: string;
  readonly format: 'PNG' | 'JPEG';
  readonly width: number;
  readonly height: number;
  readonly bytes: number;
}

/** One file made from the original, as listed in the manifest. */
export interface Derivative {
  readonly kind: 'thumbnail' | 'responsive' | 'filter';
  /** `150w`, `768w`, `sepia`. */
  readonly name: string;
  readonly path: string;
  readonly width: number;
  readonly height: number;
  readonly bytes: number;
}

/** A responsive width the original is too narrow for (the book skips these too). */
export interface Skipped {
  readonly kind: 'responsive';
  readonly name: string;
  readonly skipped: string;
}

/** What a derivative task returns: the derivative (or the skip), the original, and the thread that did the work. */
export interface DerivativeResult {
  readonly derivative: Derivative | Skipped;
  readonly original: StoredImage;
  /** `worker_threads.threadId` of the thread that ran the task: 0 is the main thread. */
  readonly thread: number;
}

/** manifest.json, written next to the files it lists. */
export interface Manifest {
  readonly imageId: string;
  readonly original: { readonly path: string; readonly format: string; readonly width: number; readonly height: number; readonly bytes: number };
  readonly derivatives: Derivative[];
  readonly skipped: Skipped[];
}

/** I/O errors (a busy disk, a full one) are worth another try; a bad upload is not. */
const retryIoErrors: RetryOptions = { autoretryFor: [Error], dontAutoretryFor: [ValidationError], maxRetries: 2, countdown: '200ms' };

/**
 * Checks the cheap things first (content type, size, the file's first bytes), then decodes the image
 * to check its dimensions. A bad upload throws ValidationError; an I/O error is retried.
 */
export const validate = app.task(
  'image.validate',
  async (_ctx, upload: Upload): Promise<ValidImage> => {
    const { filename, contentType } = upload;
    const format = FORMATS[contentType];
    if (!format) throw new ValidationError(`${filename}: content type ${contentType} is not one of ${Object.keys(FORMATS).join(', ')}`);
    const { size } = await stat(upload.path);
    if (size > CONFIG.maxBytes) {
      throw new ValidationError(`${filename} is ${(size / 1048576).toFixed(1)} MiB, over the ${CONFIG.maxBytes / 1048576} MiB limit`);
    }
    if (!(await startsWith(upload.path, format.magic))) throw new ValidationError(`${filename} is declared ${contentType} but is not a ${format.name} file`);
    const data = await readFile(upload.path);
    let image;
    try {
      image = await Jimp.fromBuffer(data);
    } catch (err) {
      throw new ValidationError(`${filename} could not be decoded as ${format.name}: ${(err as Error).message}`);
    }
    const { width, height } = image.bitmap;
    const { minSide: min, maxSide: max } = CONFIG;
    if (width < min || height < min) throw new ValidationError(`${filename} is ${width}x${height}, under the ${min}x${min} minimum`);
    if (width > max || height > max) throw new ValidationError(`${filename} is ${width}x${height}, over the ${max}x${max} maximum`);
    const imageId = createHash('sha256').update(data).digest('hex').slice(0, 16);
    return { imageId, upload, format: format.name, width, height, bytes: size };
  },
  { kind: 'cpu', retry: retryIoErrors },
);

/** Copies the validated upload into the store as `<store>/<imageId>/original.<ext>` (the book's S3 upload). */
export const store = app.task(
  'image.store',
  async (_ctx, image: ValidImage, storeDir: string): Promise<StoredImage> => {
    const dir = join(storeDir, image.imageId);
    const path = join(dir, `original.${image.format === 'PNG' ? 'png' : 'jpg'}`);
    await mkdir(dir, { recursive: true });
    await copyFile(image.upload.path, path);
    return { imageId: image.imageId, dir, path, format: image.format, width: image.width, height: image.height, bytes: image.bytes };
  },
  { retry: retryIoErrors },
);

/** A thumbnail `width` pixels wide, height in proportion, as JPEG. */
export const thumbnail = app.task(
  'image.thumbnail',
  async (_ctx, original: StoredImage, width: number): Promise<DerivativeResult> => resized(original, 'thumbnail', width),
  { kind: 'cpu' },
);

/** A responsive width: skipped when the original is not wider than that. */
export const responsive = app.task(
  'image.responsive',
  async (_ctx, original: StoredImage, width: number): Promise<DerivativeResult> => {
    if (width >= original.width) {
      const skipped = `not narrower than the ${original.width} px original`;
      return { derivative: { kind: 'responsive', name: `${width}w`, skipped }, original, thread: threadId };
    }
    return resized(original, 'responsive', width);
  },
  { kind: 'cpu' },
);

/** The original at full size through one filter: `greyscale`, `blur` or `sepia`. */
export const filter = app.task(
  'image.filter',
  async (_ctx, original: StoredImage, name: string): Promise<DerivativeResult> => {
    const image = await Jimp.read(original.path);
    if (name === 'greyscale') image.greyscale();
    else if (name === 'blur') image.blur(4);
    else if (name === 'sepia') image.sepia();
    else throw new ValidationError(`unknown filter ${name}`);
    return { derivative: await save(image, original, 'filter', name, `filter-${name}.jpg`), original, thread: threadId };
  },
  { kind: 'cpu' },
);

/**
 * The chord's body: gets every derivative task's result (in the order the workflow lists them) and
 * writes `manifest.json` next to the files. Returns the manifest's path and the threads that did the work.
 */
export const manifest = app.task('image.manifest', async (_ctx, results: DerivativeResult[]) => {
  const first = results[0];
  if (!first) throw new ValidationError('no derivatives to list');
  const { original } = first;
  const made: Manifest = {
    imageId: original.imageId,
    original: { path: original.path, format: original.format, width: original.width, height: original.height, bytes: original.bytes },
    derivatives: results.flatMap((r) => ('skipped' in r.derivative ? [] : [r.derivative])),
    skipped: results.flatMap((r) => ('skipped' in r.derivative ? [r.derivative] : [])),
  };
  const path = join(original.dir, 'manifest.json');
  await writeFile(path, JSON.stringify(made, null, 2) + '\n');
  return { path, threads: [...new Set(results.map((r) => r.thread))].sort((a, b) => a - b) };
});

/**
 * The book's `create_image_processing_workflow`: validate -> store -> a group of every derivative,
 * which a chain turns into a chord whose body is the manifest. Each member gets the stored original
 * (the previous result) before its own argument.
 */
export function processUpload(upload: Upload, storeDir: string) {
  return chain(
    validate.s(upload),
    store.s(storeDir),
    group(
      ...CONFIG.thumbnailWidths.map((w) => thumbnail.s(w)),
      ...CONFIG.responsiveWidths.map((w) => responsive.s(w)),
      ...CONFIG.filters.map((f) => filter.s(f)),
    ),
    manifest.s(),
  );
}

async function resized(original: StoredImage, kind: 'thumbnail' | 'responsive', width: number): Promise<DerivativeResult> {
  const image = await Jimp.read(original.path);
  image.resize({ w: width, h: Math.round((width * original.height) / original.width) });
  const file = kind === 'thumbnail' ? `thumb-${width}w.jpg` : `responsive-${width}w.jpg`;
  return { derivative: await save(image, original, kind, `${width}w`, file), original, thread: threadId };
}

type Image = Awaited<ReturnType<typeof Jimp.read>>;

async function save(image: Image, original: StoredImage, kind: Derivative['kind'], name: string, file: string): Promise<Derivative> {
  const bytes = await image.getBuffer(JimpMime.jpeg, { quality: CONFIG.jpegQuality });
  const path = join(original.dir, file);
  await writeFile(path, bytes);
  return { kind, name, path, width: image.bitmap.width, height: image.bitmap.height, bytes: bytes.length };
}

async function startsWith(path: string, magic: number[]): Promise<boolean> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(magic.length);
    const { bytesRead } = await file.read(head, 0, magic.length, 0);
    return bytesRead === magic.length && magic.every((b, i) => head[i] === b);
  } finally {
    await file.close();
  }
}
