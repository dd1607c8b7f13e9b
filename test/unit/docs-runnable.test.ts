/**
 * Every runnable block of the docs (a `<!-- runnable -->` line right before a ```ts fence, in
 * README.md and docs/**\/*.md except the generated docs/api/) must typecheck with the project's
 * settings, run as written on the embedded transport, and print exactly its `// prints:` lines.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TMP_PREFIX = '.tmp-docs-runnable-';
const MARKER = '<!-- runnable -->';
/** Pages that must keep at least this many runnable blocks (so a broken marker cannot empty them). */
const MIN_BLOCKS: Record<string, number> = {
  'docs/guide/migrating-from-celery.md': 3,
  'docs/guide/migrating-from-bullmq.md': 3,
  'docs/guide/tasks.md': 3,
  'docs/guide/calling.md': 3,
  'docs/guide/results.md': 3,
  'docs/guide/workers-and-pools.md': 3,
  'docs/guide/routing-and-priorities.md': 3,
};
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'CELERIAC_BROKER_URL'));
const exec = promisify(execFile);

interface Block {
  page: string;
  index: number;
  code: string;
  expected: string[];
  file: string;
}

/** README.md and every Markdown file under docs/, except the generated API reference. */
function markdownPages(): string[] {
  const pages = existsSync(join(ROOT, 'README.md')) ? ['README.md'] : [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory() && rel !== 'docs/api') walk(rel);
      else if (e.isFile() && e.name.endsWith('.md')) pages.push(rel);
    }
  };
  walk('docs');
  return pages.sort();
}

/**
 * The runnable blocks of a page. A marker not followed directly by a ts fence, and a block without a
 * `// prints:` line, are recorded in `problems`.
 */
function runnableBlocks(page: string, markdown: string, problems: string[]): Array<Omit<Block, 'file'>> {
  const text = markdown.replace(/\r\n/g, '\n');
  const markers = text.split(MARKER).length - 1;
  const found = [...text.matchAll(/<!-- runnable -->\n```ts\n([\s\S]*?)```/g)].map((m, index) => {
    const code = m[1] ?? '';
    const expected = [...code.matchAll(/^\/\/ prints: ?(.*)$/gm)].map((p) => p[1] ?? '');
    return { page, index, code, expected };
  });
  if (found.length !== markers) problems.push(`${page}: ${markers - found.length} "${MARKER}" line(s) not followed directly by a \`\`\`ts fence`);
  for (const b of found) if (b.expected.length === 0) problems.push(`${page} runnable block ${b.index} has no // prints: line:\n${b.code}`);
  return found;
}

/** `celeriac` and `celeriac/plugins/<name>` point at the sources, relative to the temp dir. */
function toSources(code: string, dir: string): string {
  const rel = (p: string): string => relative(dir, join(ROOT, p)).split('\\').join('/');
  return code
    .replace(/from 'celeriac\/plugins\/([a-z-]+)'/g, (_, p: string) => `from '${rel(`plugins/${p}/index.ts`)}'`)
    .replace(/from 'celeriac\/testing'/g, `from '${rel('src/testing.ts')}'`)
    .replace(/from 'celeriac'/g, `from '${rel('src/index.ts')}'`);
}

// Found at load time, so each block is a test of its own.
const pages = markdownPages();
const problems: string[] = [];
const found = pages.flatMap((page) => runnableBlocks(page, readFileSync(join(ROOT, page), 'utf8'), problems));
const blocks: Block[] = found.map((b) => ({ ...b, file: `${b.page.replace(/\W+/g, '-')}-${b.index}.ts` }));
let dir = '';

before(async () => {
  dir = await mkdtemp(join(ROOT, TMP_PREFIX));
  await Promise.all(blocks.map((b) => writeFile(join(dir, b.file), toSources(b.code, dir))));
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('every runnable marker starts a ts block that says what it prints', () => {
  assert.deepEqual(problems, []);
});

test('the runnable blocks are found: each page keeps its minimum, and the total covers them', () => {
  for (const [page, min] of Object.entries(MIN_BLOCKS)) {
    const n = blocks.filter((b) => b.page === page).length;
    assert.ok(n >= min, `${page}: expected at least ${min} runnable blocks, found ${n}`);
  }
  const floor = Object.values(MIN_BLOCKS).reduce((s, n) => s + n, 0);
  assert.ok(blocks.length >= floor, `expected at least ${floor} runnable blocks in all, found ${blocks.length}`);
});

test('every runnable block typechecks with the project settings', async () => {
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ extends: '../tsconfig.json', compilerOptions: { noEmit: true }, include: ['./*.ts'] }));
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  const out = await exec(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: ROOT, timeout: 180_000 }).then(
    (r) => r.stdout,
    (err: { stdout?: string }) => err.stdout ?? String(err),
  );
  // Only the blocks' own errors: the sources they import are checked by the project's own tsc run.
  const mine = out.split('\n').filter((l) => l.includes(TMP_PREFIX));
  assert.deepEqual(mine, []);
});

// Two at a time: the machine is shared, and each block starts its own tsx process.
describe('every runnable block runs and prints its // prints: lines', { concurrency: 2 }, () => {
  for (const b of blocks.filter((x) => x.expected.length > 0)) {
    test(`${b.page} block ${b.index}`, async () => {
      const { stdout } = await exec(process.execPath, ['--import', 'tsx', join(dir, b.file)], { cwd: ROOT, env: ENV, timeout: 60_000 });
      assert.deepEqual(stdout.trimEnd().split('\n'), b.expected, `${b.page} runnable block ${b.index}:\n${b.code}`);
    });
  }
});
