/**
 * The migration guides' runnable blocks (a `<!-- runnable -->` line before the ```ts fence) must
 * typecheck, run as written on the embedded transport and print what their `// prints:` lines say.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PAGES = ['docs/guide/migrating-from-celery.md', 'docs/guide/migrating-from-bullmq.md'];
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'CELERIAC_BROKER_URL'));
const exec = promisify(execFile);

interface Block {
  page: string;
  index: number;
  code: string;
  expected: string[];
  file: string;
}

function runnableBlocks(page: string, markdown: string): Array<Omit<Block, 'file'>> {
  return [...markdown.matchAll(/<!-- runnable -->\n```ts\n([\s\S]*?)```/g)].map((m, index) => {
    const code = m[1] ?? '';
    const expected = [...code.matchAll(/^\/\/ prints: ?(.*)$/gm)].map((p) => p[1] ?? '');
    return { page, index, code, expected };
  });
}

/** `celeriac` and `celeriac/plugins/<name>` point at the sources, relative to the temp dir. */
function toSources(code: string, dir: string): string {
  const rel = (p: string): string => relative(dir, join(ROOT, p)).split('\\').join('/');
  return code
    .replace(/from 'celeriac\/plugins\/([a-z-]+)'/g, (_, p: string) => `from '${rel(`plugins/${p}/index.ts`)}'`)
    .replace(/from 'celeriac'/g, `from '${rel('src/index.ts')}'`);
}

let dir = '';
const blocks: Block[] = [];

before(async () => {
  dir = await mkdtemp(join(ROOT, '.tmp-docs-migration-'));
  for (const page of PAGES) {
    const found = runnableBlocks(page, await readFile(join(ROOT, page), 'utf8'));
    assert.ok(found.length >= 3, `${page}: expected at least 3 runnable blocks, found ${found.length}`);
    for (const b of found) {
      assert.ok(b.expected.length > 0, `${page} runnable block ${b.index} has no // prints: line`);
      const file = join(dir, `${page.replace(/\W+/g, '-')}-${b.index}.ts`);
      await writeFile(file, toSources(b.code, dir));
      blocks.push({ ...b, file });
    }
  }
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('every runnable block of the migration guides typechecks with the project settings', async () => {
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ extends: '../tsconfig.json', compilerOptions: { noEmit: true }, include: ['./*.ts'] }));
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  const out = await exec(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: ROOT, timeout: 120_000 }).then(
    (r) => r.stdout,
    (err: { stdout?: string }) => err.stdout ?? String(err),
  );
  // Only the blocks' own errors: the sources they import are checked by the project's own tsc run.
  const mine = out.split('\n').filter((l) => l.includes('.tmp-docs-migration-'));
  assert.deepEqual(mine, []);
});

test('every runnable block of the migration guides runs and prints its // prints: lines', async () => {
  // Two at a time: the machine is shared, and each block starts its own tsx process.
  const outputs: string[] = new Array<string>(blocks.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < blocks.length) {
      const i = next++;
      const { stdout } = await exec(process.execPath, ['--import', 'tsx', blocks[i]!.file], { cwd: ROOT, env: ENV, timeout: 60_000 });
      outputs[i] = stdout;
    }
  };
  await Promise.all([lane(), lane()]);
  blocks.forEach((b, i) => {
    assert.deepEqual(outputs[i]!.trimEnd().split('\n'), b.expected, `${b.page} runnable block ${b.index}:\n${b.code}`);
  });
});
