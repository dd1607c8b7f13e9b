/**
 * No example rots: every `examples/<name>/main.ts` is run by a unit test (on the embedded transport)
 * and by an integration test (on a real nats-server), and every example folder has a README or is
 * described by the guide that links it.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The example folders that have a runnable main.ts. */
async function runnableExamples(): Promise<string[]> {
  const names: string[] = [];
  for (const e of await readdir(join(ROOT, 'examples'), { withFileTypes: true })) {
    if (e.isDirectory() && (await exists(join(ROOT, 'examples', e.name, 'main.ts')))) names.push(e.name);
  }
  return names.sort();
}

/** A test file's source with the sources of the test/helpers files it imports appended. */
async function withHelpers(file: string): Promise<string> {
  const src = await readFile(file, 'utf8');
  const helpers = [...src.matchAll(/from '((?:\.\.\/)+helpers\/[\w.-]+\.ts)'/g)].map((m) => join(dirname(file), m[1] ?? ''));
  return [src, ...(await Promise.all(helpers.map((h) => readFile(h, 'utf8'))))].join('\n');
}

/**
 * Which test files mention `examples/<name>/main.ts`: directly, in a test/helpers file they import,
 * or through a `${name}` template over a list that names the folder.
 */
async function testsRunning(name: string, tier: 'unit' | 'integration'): Promise<string[]> {
  const files = await filesUnder(join(ROOT, 'test', tier));
  const hits: string[] = [];
  for (const f of files) {
    const src = await withHelpers(f);
    const literal = src.includes(`examples/${name}/main.ts`);
    // `examples/${framework}/main.ts` over a list that names the folder.
    const templated = /examples\/\$\{\w+\}\/main\.ts/.test(src) && src.includes(`'${name}'`);
    if (literal || templated) hits.push(relative(ROOT, f));
  }
  return hits;
}

test('there are examples to check (the scan finds the folders)', async () => {
  const names = await runnableExamples();
  for (const known of ['01-quickstart', '02-failures', '03-canvas', 'express', 'fastify']) assert.ok(names.includes(known), `${known} not found in ${names.join(', ')}`);
});

test('every example is run by a unit test on memory:// and by an integration test on NATS', async () => {
  const missing: string[] = [];
  for (const name of await runnableExamples()) {
    if ((await testsRunning(name, 'unit')).length === 0) missing.push(`${name}: no unit test runs examples/${name}/main.ts`);
    if ((await testsRunning(name, 'integration')).length === 0) missing.push(`${name}: no integration test runs examples/${name}/main.ts`);
  }
  assert.deepEqual(missing, []);
});

test('every example has a README or a module doc block that says how to run it', async () => {
  const missing: string[] = [];
  for (const name of await runnableExamples()) {
    if (await exists(join(ROOT, 'examples', name, 'README.md'))) continue;
    const main = await readFile(join(ROOT, 'examples', name, 'main.ts'), 'utf8');
    if (!/^\/\*\*[\s\S]*?(npx tsx examples\/|npm start)[\s\S]*?\*\//.test(main)) missing.push(name);
  }
  assert.deepEqual(missing, []);
});
