/**
 * The README's quick start must run as written (with `celeriac` mapped to the sources).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('the README quick start runs and prints what its comments say', async () => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const block = /## Quick start\s+```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'README has a Quick start ts block');
  const dir = await mkdtemp(join(ROOT, '.tmp-docs-'));
  try {
    const file = join(dir, 'quickstart.ts');
    await writeFile(file, block.replace(/from 'celeriac'/g, `from '${join(ROOT, 'src/index.ts')}'`));
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', file], {
      cwd: ROOT,
      env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'CELERIAC_BROKER_URL')),
      timeout: 60_000,
    });
    assert.deepEqual(stdout.trim().split('\n'), ['5', 'HI!']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('every code block of docs/guide/canvas.md is part of examples/03-canvas, which the example tests run', async () => {
  const guide = await readFile(join(ROOT, 'docs/guide/canvas.md'), 'utf8');
  const example = (await readFile(join(ROOT, 'examples/03-canvas/main.ts'), 'utf8')) + (await readFile(join(ROOT, 'examples/03-canvas/tasks.ts'), 'utf8'));
  const squash = (s: string) => s.replace(/\s+/g, ' ').trim();
  const blocks = [...guide.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  assert.ok(blocks.length >= 8, `expected the guide's snippets, found ${blocks.length}`);
  for (const b of blocks) assert.ok(squash(example).includes(squash(b)), `not in examples/03-canvas:\n${b}`);
});

test('every code block of docs/guide/writing-plugins.md is part of the audit-log example or its test', async () => {
  const guide = await readFile(join(ROOT, 'docs/guide/writing-plugins.md'), 'utf8');
  const sources = await Promise.all(
    ['examples/04-audit-plugin/audit-log.ts', 'test/unit/plugins/audit-log-example.test.ts'].map((f) => readFile(join(ROOT, f), 'utf8')),
  );
  const squash = (s: string) => s.replace(/\s+/g, ' ').trim();
  const all = squash(sources.join('\n'));
  const blocks = [...guide.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  assert.ok(blocks.length >= 5, `expected the guide's snippets, found ${blocks.length}`);
  for (const b of blocks) assert.ok(all.includes(squash(b)), `not in the example or its test:\n${b}`);
});
