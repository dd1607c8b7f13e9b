/**
 * The demo's uploads, made in code (no downloads): what a web tier would have written to its upload
 * folder. One good picture and four bad uploads, each wrong in a different way.
 */
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Jimp, JimpMime } from 'jimp';
import type { Upload } from './tasks.ts';

/** A 1200x800 PNG: an evening-sky gradient, a sun, and a checkered ground. */
async function sunset(width: number, height: number): Promise<Buffer> {
  const image = new Jimp({ width, height, color: 0x000000ff });
  const data = image.bitmap.data;
  const horizon = Math.round(height * 0.65);
  const sun = { x: width * 0.62, y: horizon, r: height * 0.18 };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const t = y / horizon;
      let rgb: [number, number, number];
      if (y < horizon) rgb = [90 + 165 * t, 40 + 100 * t, 140 - 90 * t];
      else rgb = ((x >> 5) + (y >> 5)) % 2 === 0 ? [40, 70, 40] : [60, 100, 50];
      if (y < horizon && (x - sun.x) ** 2 + (y - sun.y) ** 2 < sun.r ** 2) rgb = [255, 210, 90];
      data[i] = rgb[0];
      data[i + 1] = rgb[1];
      data[i + 2] = rgb[2];
      data[i + 3] = 255;
    }
  }
  return image.getBuffer(JimpMime.png);
}

/** Writes the uploads into `dir`: the picture first, then the bad ones. */
export async function writeUploads(dir: string): Promise<{ good: Upload; bad: Upload[] }> {
  const file = (filename: string, contentType: string): Upload => ({ path: join(dir, filename), filename, contentType });
  const good = file('sunset.png', 'image/png');
  await writeFile(good.path, await sunset(1200, 800));

  const notes = file('notes.txt', 'text/plain');
  await writeFile(notes.path, 'not a picture\n');
  const fake = file('fake.png', 'image/png'); // says PNG, is text
  await writeFile(fake.path, 'GIF89a? no, just text\n');
  const tiny = file('tiny.png', 'image/png');
  await writeFile(tiny.path, await new Jimp({ width: 64, height: 64, color: 0x3366ccff }).getBuffer(JimpMime.png));
  const huge = file('huge.png', 'image/png');
  await writeFile(huge.path, '');
  await truncate(huge.path, 60 * 1024 * 1024); // a sparse 60 MiB file: over the limit, without using the disk
  return { good, bad: [notes, fake, tiny, huge] };
}
