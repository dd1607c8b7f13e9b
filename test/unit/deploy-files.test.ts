/**
 * The deployment files in docs/guide/deployment/ (systemd units, Dockerfile, compose.yaml, the
 * environment file) checked without docker or systemd: every `celeriac` command line in them parses
 * with the real CLI, the stop timeouts leave room for the worker's warm shutdown (--grace), every
 * Celeriac variable they set is documented in docs/reference/configuration.md, and the units pass
 * `systemd-analyze verify` where that binary exists.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { buildCli } from '../../src/cli/main.ts';
import { parseDuration } from '../../src/util/duration.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = 'docs/guide/deployment';
const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');
const WORKER_UNIT = read(`${DIR}/celeriac-worker@.service`);
const BEAT_UNIT = read(`${DIR}/celeriac-beat.service`);
const DOCKERFILE = read(`${DIR}/Dockerfile`);
const COMPOSE = read(`${DIR}/compose.yaml`);
const ENV_FILE = read(`${DIR}/celeriac.env.example`);
const GUIDE = read('docs/guide/deployment.md');

interface Parsed {
  /** `worker`, `beat`, `inspect ping`, ... */
  command: string;
  opts: Record<string, unknown>;
}

/** Parse `celeriac <args>` with the real command tree (actions replaced, errors thrown). */
function parseCli(args: string[], where: string): Parsed {
  const program = buildCli();
  let parsed: Parsed | undefined;
  const prepare = (cmd: Command, path: string[]): void => {
    cmd.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
    if (path.length > 0 && cmd.commands.length === 0) {
      cmd.action((...a: unknown[]) => {
        const c = a[a.length - 1] as Command;
        parsed = { command: path.join(' '), opts: c.opts() };
      });
    }
    for (const sub of cmd.commands) prepare(sub, [...path, sub.name()]);
  };
  prepare(program, []);
  try {
    program.parse(args, { from: 'user' });
  } catch (err) {
    assert.fail(`${where}: celeriac ${args.join(' ')}: ${(err as Error).message}`);
  }
  assert.ok(parsed, `${where}: celeriac ${args.join(' ')} runs no command`);
  return parsed;
}

/** Shell words of a simple command line (double and single quotes, no escapes). */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/** `Key=value` of a unit file (the last one wins, as in systemd). */
function unitValue(unit: string, key: string): string {
  const all = [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))];
  assert.ok(all.length > 0, `no ${key}= line`);
  return all[all.length - 1]![1]!.trim();
}

/** The celeriac arguments of a unit's ExecStart (after `.../celeriac.js`), with %i and %H filled in. */
function unitCommand(unit: string): string[] {
  const exec = words(unitValue(unit, 'ExecStart').replace(/%i/g, 'default').replace(/%H/g, 'host1'));
  const at = exec.findIndex((w) => /(^|\/)celeriac(\.js)?$/.test(w));
  assert.ok(at >= 0, `ExecStart runs no celeriac: ${exec.join(' ')}`);
  return exec.slice(at + 1);
}

/** The top-level block of one compose service (its lines, indented by 4). */
function composeService(name: string): string {
  const m = new RegExp(`^  ${name}:\\n((?:    .*\\n|\\s*\\n)*)`, 'm').exec(COMPOSE);
  assert.ok(m, `compose.yaml has no service ${name}`);
  return m[1]!;
}

function composeCommand(service: string): string[] {
  const line = /^ {4}command: (\[.*\])$/m.exec(composeService(service))?.[1];
  assert.ok(line, `compose service ${service} has no command: [...] line`);
  return JSON.parse(line) as string[];
}

const seconds = (d: string): number => parseDuration(d, 'duration') / 1000;
const graceOf = (p: Parsed): number => Number(p.opts.grace);

/** The Dockerfile's JSON-array instruction (ENTRYPOINT, CMD). */
function dockerArray(instruction: string): string[] {
  const line = new RegExp(`^${instruction} (\\[.*\\])$`, 'm').exec(DOCKERFILE)?.[1];
  assert.ok(line, `Dockerfile has no ${instruction} [...]`);
  return JSON.parse(line) as string[];
}

function dockerCommand(): string[] {
  const entry = dockerArray('ENTRYPOINT');
  assert.match(entry[entry.length - 1]!, /(^|\/)celeriac$/, 'the entrypoint ends with celeriac');
  return dockerArray('CMD');
}

/** The command of the Dockerfile's HEALTHCHECK (joined continuation lines), up to a redirection. */
function healthcheckCommand(): string[] {
  const joined = DOCKERFILE.replace(/\\\n\s*/g, '');
  const cmd = /^HEALTHCHECK .*? CMD (.*)$/m.exec(joined)?.[1];
  assert.ok(cmd, 'Dockerfile has no HEALTHCHECK ... CMD');
  const w = words(cmd.split(/\s(?:>|\|\||&&)\s/)[0]!);
  assert.equal(w[0], 'celeriac', `the health check runs celeriac: ${cmd}`);
  return w.slice(1);
}

test('every celeriac command line in the deployment files parses with the real CLI', () => {
  const lines: Array<[string, string[]]> = [
    ['celeriac-worker@.service', unitCommand(WORKER_UNIT)],
    ['celeriac-beat.service', unitCommand(BEAT_UNIT)],
    ['Dockerfile CMD', dockerCommand()],
    ['Dockerfile HEALTHCHECK', healthcheckCommand()],
    ['compose.yaml worker', composeCommand('worker')],
    ['compose.yaml beat', composeCommand('beat')],
  ];
  // The guide's console and sh blocks too (`$ celeriac ...` or `celeriac ...` lines).
  for (const block of GUIDE.matchAll(/```(?:sh|console)\n([\s\S]*?)```/g)) {
    for (const raw of block[1]!.split('\n')) {
      const line = raw.replace(/^\$ /, '').replace(/\s+#.*$/, '').trim();
      if (line.startsWith('celeriac ')) lines.push(['deployment.md', words(line).slice(1)]);
    }
  }
  assert.ok(lines.length >= 8, `expected the guide's commands too, got ${lines.length} lines`);
  const parsed = lines.map(([where, args]) => ({ where, p: parseCli(args, where) }));
  const byWhere = Object.fromEntries(parsed.map(({ where, p }) => [where, p]));
  assert.equal(byWhere['celeriac-worker@.service']!.command, 'worker');
  assert.equal(byWhere['celeriac-worker@.service']!.opts.queues, 'default', 'the instance name is the queue');
  assert.equal(byWhere['celeriac-beat.service']!.command, 'beat');
  assert.equal(byWhere['Dockerfile CMD']!.command, 'worker');
  assert.equal(byWhere['Dockerfile HEALTHCHECK']!.command, 'inspect ping');
  assert.equal(byWhere['compose.yaml worker']!.command, 'worker');
  assert.equal(byWhere['compose.yaml beat']!.command, 'beat');
  for (const { where, p } of parsed) {
    if (p.command !== 'worker' || where === 'deployment.md') continue;
    assert.ok(Number.isFinite(graceOf(p)) && graceOf(p) > 0, `${where}: the worker line sets --grace`);
    assert.ok(['text', 'json'].includes(String(p.opts.logFormat)), `${where}: --log-format`);
  }
});

test('stop timeouts are longer than the worker grace, so a warm shutdown completes', () => {
  const unit = parseCli(unitCommand(WORKER_UNIT), 'unit');
  assert.equal(unitValue(WORKER_UNIT, 'KillSignal'), 'SIGTERM');
  assert.ok(seconds(unitValue(WORKER_UNIT, 'TimeoutStopSec').replace(/^(\d+)$/, '$1s')) > graceOf(unit), 'TimeoutStopSec > --grace');

  const composeWorker = parseCli(composeCommand('worker'), 'compose');
  const period = /^ {4}stop_grace_period: (\S+)$/m.exec(composeService('worker'))?.[1];
  assert.ok(period, 'compose worker has a stop_grace_period');
  assert.ok(seconds(period) > graceOf(composeWorker), `stop_grace_period ${period} > --grace ${graceOf(composeWorker)}`);

  const image = parseCli(dockerCommand(), 'Dockerfile');
  assert.match(DOCKERFILE, /^STOPSIGNAL SIGTERM$/m);
  const stopTimeout = /--stop-timeout (\d+)/.exec(DOCKERFILE)?.[1];
  assert.ok(stopTimeout, 'the Dockerfile says which docker run --stop-timeout to use');
  assert.ok(Number(stopTimeout) > graceOf(image), `--stop-timeout ${stopTimeout} > --grace ${graceOf(image)}`);
});

test('the health check pings the worker this container runs', () => {
  const ping = parseCli(healthcheckCommand(), 'HEALTHCHECK');
  const name = String(parseCli(dockerCommand(), 'CMD').opts.hostname);
  assert.ok(name.includes('%h'), 'the image names its worker after the container host name');
  assert.equal(ping.opts.destination, name.replace('%h', '$(hostname)'));
  assert.match(composeService('beat'), /healthcheck:\n\s+disable: true/, 'beat answers no ping: its health check is off');
});

test('the image runs as a non-root user with production dependencies and an init for signals', () => {
  assert.match(DOCKERFILE, /^FROM node:20-slim AS build$/m);
  assert.match(DOCKERFILE, /^RUN npm ci --omit=dev/m);
  const users = [...DOCKERFILE.matchAll(/^USER (\S+)$/gm)].map((m) => m[1]);
  assert.ok(users.length > 0 && users.at(-1) !== 'root' && users.at(-1) !== '0', 'the last USER is not root');
  assert.match(DOCKERFILE, /tini/);
});

test('every Celeriac variable the files set is documented in configuration.md', () => {
  const config = read('docs/reference/configuration.md');
  const set = new Map<string, string>();
  const add = (name: string, where: string) => set.set(name, where);
  // KEY=value lines of the environment file, commented-out examples included.
  for (const m of ENV_FILE.matchAll(/^#? ?([A-Z][A-Z0-9_]*)=/gm)) add(m[1]!, 'celeriac.env.example');
  for (const unit of [WORKER_UNIT, BEAT_UNIT]) for (const m of unit.matchAll(/^Environment="?([A-Z][A-Z0-9_]*)=/gm)) add(m[1]!, 'unit');
  for (const service of ['worker', 'beat']) {
    const env = /^ {4}environment:\n((?: {6}.*\n)*)/m.exec(composeService(service))?.[1] ?? '';
    for (const m of env.matchAll(/^ {6}#? ?([A-Z][A-Z0-9_]*):/gm)) add(m[1]!, `compose ${service}`);
  }
  for (const m of DOCKERFILE.matchAll(/^ENV ((?:.*\\\n)*.*)$/gm)) for (const v of m[1]!.matchAll(/([A-Z][A-Z0-9_]*)=/g)) add(v[1]!, 'Dockerfile');
  assert.ok([...set.keys()].filter((k) => k.startsWith('CELERIAC_')).length >= 6, `found only ${[...set.keys()].join(', ')}`);
  // Not Celeriac's configuration: Node's production switch and the image's PATH.
  const notOurs = new Set(['NODE_ENV', 'PATH']);
  for (const [name, where] of set) {
    if (notOurs.has(name)) continue;
    assert.ok(config.includes(`\`${name}\``) || config.includes(`\`${name}=`), `${where} sets ${name}, which configuration.md does not document`);
  }
  assert.match(unitValue(WORKER_UNIT, 'EnvironmentFile'), /celeriac\.env$/);
  assert.equal(unitValue(BEAT_UNIT, 'EnvironmentFile'), unitValue(WORKER_UNIT, 'EnvironmentFile'));
});

test('systemd-analyze verify accepts both units (where systemd-analyze exists)', (t) => {
  const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    // No systemd here: the other tests still ran; nothing to call.
    t.diagnostic('systemd-analyze not found: units not verified');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-units-'));
  try {
    // verify checks that ExecStart's binary exists: point it at this node.
    const local = (unit: string) => unit.replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `);
    writeFileSync(join(dir, 'celeriac-worker@.service'), local(WORKER_UNIT));
    symlinkSync(join(dir, 'celeriac-worker@.service'), join(dir, 'celeriac-worker@default.service'));
    writeFileSync(join(dir, 'celeriac-beat.service'), local(BEAT_UNIT));
    for (const unit of ['celeriac-worker@default.service', 'celeriac-beat.service']) {
      const r = spawnSync('systemd-analyze', ['verify', join(dir, unit)], { encoding: 'utf8' });
      // Unknown keys and bad values are only printed, with exit 0: any output is a failure.
      assert.equal(r.status, 0, `${unit}: ${r.stderr}`);
      assert.equal(`${r.stdout}${r.stderr}`.trim(), '', `${unit}: systemd-analyze verify says:\n${r.stdout}${r.stderr}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
