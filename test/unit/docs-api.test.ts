/**
 * The generated API reference (typedoc.json, `npm run docs:api`): TypeDoc runs on the package's
 * public doors without a single warning (an export without TSDoc, a broken {@link}, a public
 * signature that names a type nobody can import), and every name the doors export is documented.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TYPEDOC = join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc');

/** Entry file -> the module name TypeDoc gives it (its `@module` tag: the import path). */
const DOORS: Record<string, string> = {
  'src/index.ts': 'celeriac',
  'src/testing.ts': 'celeriac/testing',
  'plugins/circuit-breaker/index.ts': 'celeriac/plugins/circuit-breaker',
  'plugins/rate-limit/index.ts': 'celeriac/plugins/rate-limit',
  'plugins/saga/index.ts': 'celeriac/plugins/saga',
};

interface Reflection {
  name: string;
  kind: number;
  comment?: { summary: Array<{ text: string }> };
  signatures?: Reflection[];
  getSignature?: Reflection;
  children?: Reflection[];
}

let out = '';
let run: { status: number | null; output: string };
let project: Reflection;

before(() => {
  out = mkdtempSync(join(tmpdir(), 'celeriac-api-'));
  const r = spawnSync(process.execPath, [TYPEDOC, '--out', join(out, 'html'), '--json', join(out, 'api.json')], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  run = { status: r.status, output: stripVTControlCharacters(`${r.stdout}${r.stderr}`) };
  if (existsSync(join(out, 'api.json'))) project = JSON.parse(readFileSync(join(out, 'api.json'), 'utf8')) as Reflection;
});

after(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

/** The names an entry file exports (`export { a, b as c } from` and `export function/const/...`). */
function exportedNames(file: string): string[] {
  const src = readFileSync(join(ROOT, file), 'utf8');
  const names: string[] = [];
  for (const m of src.matchAll(/^export (?:type )?\{([^}]*)\}/gm)) {
    for (const part of m[1]!.split(',')) {
      const name = part.trim().split(/\s+as\s+/).pop()!.trim();
      if (name) names.push(name);
    }
  }
  for (const m of src.matchAll(/^export (?:async )?(?:function|const|class|interface|type|abstract class) (\w+)/gm)) names.push(m[1]!);
  return [...new Set(names)];
}

function hasDoc(r: Reflection): boolean {
  const documented = (x: Reflection | undefined) => (x?.comment?.summary ?? []).some((p) => p.text.trim() !== '');
  return documented(r) || (r.signatures ?? []).some(documented) || documented(r.getSignature);
}

test('typedoc exits 0 and prints no warning or error', () => {
  assert.equal(run.status, 0, run.output);
  assert.doesNotMatch(run.output, /\[(warning|error)\]/, run.output);
  assert.ok(existsSync(join(out, 'html', 'index.html')), 'no index.html');
});

test('every name each public door exports is documented, with its TSDoc summary', () => {
  assert.ok(project, `no JSON output:\n${run.output}`);
  for (const [file, moduleName] of Object.entries(DOORS)) {
    const mod = project.children?.find((c) => c.name === moduleName);
    assert.ok(mod, `module ${moduleName} (${file}) missing from the API reference`);
    const names = exportedNames(file);
    assert.ok(names.length > 0, `no exports found in ${file}`);
    for (const name of names) {
      const r = mod.children?.find((c) => c.name === name);
      assert.ok(r, `${moduleName}: ${name} is exported by ${file} but not in the API reference`);
      assert.ok(hasDoc(r), `${moduleName}: ${name} has no TSDoc summary`);
    }
  }
});

test('the main public names have their pages', () => {
  const pages = [
    'modules/celeriac.html',
    'functions/celeriac.createApp.html',
    'classes/celeriac.App.html',
    'classes/celeriac.AsyncResult.html',
    'classes/celeriac.CeleriacError.html',
    'classes/celeriac.TaskError.html',
    'classes/celeriac.TimeoutError.html',
    'classes/celeriac.Retry.html',
    'classes/celeriac.Reject.html',
    'functions/celeriac_plugins_circuit-breaker.circuitBreaker.html',
    'functions/celeriac_plugins_rate-limit.rateLimit.html',
    'functions/celeriac_plugins_saga.saga.html',
    'functions/celeriac_testing.startNatsServer.html',
  ];
  for (const p of pages) assert.ok(existsSync(join(out, 'html', p)), `no page ${p}`);
  const createApp = readFileSync(join(out, 'html', 'functions/celeriac.createApp.html'), 'utf8');
  assert.match(createApp, /AppOptions/, 'createApp page does not show its options type');
});

test('every public error class of celeriac has a class page', async () => {
  const api = (await import('../../src/index.ts')) as Record<string, unknown>;
  const errors = Object.entries(api).filter(([, v]) => typeof v === 'function' && v.prototype instanceof Error);
  assert.ok(errors.length >= 20, `only ${errors.length} error classes found`);
  for (const [name] of errors) assert.ok(existsSync(join(out, 'html', 'classes', `celeriac.${name}.html`)), `no page for ${name}`);
});

test('internal plumbing stays out of the reference', () => {
  const security = readFileSync(join(out, 'html', 'interfaces/celeriac.MessageSecurity.html'), 'utf8');
  assert.match(security, /rejected/, 'MessageSecurity page lacks its public members');
  for (const internal of ['signTask', 'authenticateTask', 'verifyControl']) assert.doesNotMatch(security, new RegExp(`\\b${internal}\\b`), `${internal} is documented`);
});
