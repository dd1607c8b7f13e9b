/**
 * The `celeriac` binary as an installed package runs it: bin/ and a build in dist/, no src/. A
 * built (JavaScript) app runs without tsx, whose loader thread costs ~40 MB of resident memory per
 * worker; a TypeScript app still loads (tsx is registered for it).
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let dir: string;
let pkg: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'celeriac-installed-'));
  pkg = join(dir, 'node_modules', 'celeriac');
  mkdirSync(join(pkg, 'bin'), { recursive: true });
  copyFileSync(join(ROOT, 'bin', 'celeriac.js'), join(pkg, 'bin', 'celeriac.js'));
  copyFileSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  // The package's dependencies, as npm would install them next to it.
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'), 'dir');
  await promisify(execFile)(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')], {
    cwd: ROOT,
    timeout: 120_000,
  });
  // An app that says whether a TypeScript module can be imported in its process (tsx registered).
  writeFileSync(join(dir, 'probe.ts'), 'export const probe: string = "ts";\n');
  const app = (ext: string) => `import { createApp } from 'celeriac';
let tsx = 'no';
try { await import('./probe.ts'); tsx = 'yes'; } catch {}
console.log('tsx loaded: ' + tsx);
export const app = createApp({ name: 'installed${ext}', broker: 'memory://' });
app.task('installed.ping', () => 'pong');
`;
  writeFileSync(join(dir, 'app.mjs'), app('js'));
  writeFileSync(join(dir, 'app.ts'), app('ts'));
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Start `celeriac worker -A <module>` from the installed package; its output until it is ready. */
async function startWorker(module: string): Promise<string> {
  const proc = spawn(process.execPath, [join(pkg, 'bin', 'celeriac.js'), 'worker', '-A', module, '-c', '2'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "worker ready" within 30 s:\n${out}`)), 30_000);
      const onData = (d: Buffer) => {
        out += d.toString();
        if (out.includes('worker ready')) {
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`worker exited (${String(code)}) before ready:\n${out}`));
      });
    });
  } finally {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  }
  return out;
}

test('an installed celeriac runs a built JavaScript app without registering tsx', async () => {
  const out = await startWorker('app.mjs');
  assert.match(out, /tsx loaded: no/);
  assert.match(out, /installed\.ping/, 'the banner lists the task');
});

test('an installed celeriac registers tsx for a TypeScript app', async () => {
  const out = await startWorker('app.ts');
  assert.match(out, /tsx loaded: yes/);
  assert.match(out, /installed\.ping/);
});
