/**
 * docs/reference/ and docs/guide/troubleshooting.md must stay true to the code: every option, default,
 * environment variable, CLI command and flag, error code, dead-letter reason, metric and event type is
 * read from the sources (text or exported objects) and looked up in the pages, and the names the pages
 * use must exist in the sources.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { DEFAULT_APP_OPTIONS } from '../../src/app/app-options.ts';
import { DEFAULT_SECURITY_OPTIONS } from '../../src/app/security-options.ts';
import { DEFAULT_WORKER_OPTIONS } from '../../src/actors/worker-options.ts';
import { buildCli } from '../../src/cli/main.ts';
import { ATTR, EVENT } from '../../src/telemetry/attributes.ts';
import { METRIC } from '../../src/telemetry/metrics.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');
const PAGES = ['docs/reference/configuration.md', 'docs/reference/cli.md', 'docs/reference/errors.md', 'docs/reference/metrics-and-events.md', 'docs/guide/troubleshooting.md'];

function allSource(dir = join(ROOT, 'src')): string {
  return readdirSync(dir, { withFileTypes: true })
    .map((e) => (e.isDirectory() ? allSource(join(dir, e.name)) : e.name.endsWith('.ts') ? readFileSync(join(dir, e.name), 'utf8') : ''))
    .join('\n');
}

/** The text under the heading that starts with `title` (until the next heading of any level). */
function section(md: string, title: string | RegExp): string {
  const lines = md.split('\n');
  const start = lines.findIndex((l) => /^#{1,4} /.test(l) && (typeof title === 'string' ? l.replace(/^#+ /, '').startsWith(title) : title.test(l.replace(/^#+ /, ''))));
  assert.ok(start >= 0, `no heading ${String(title)}`);
  const end = lines.findIndex((l, i) => i > start && /^#{1,4} /.test(l));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** The table row of `name` (`| \`name\` | ...`) in `text`, or undefined. */
function row(text: string, name: string): string | undefined {
  return text.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
}

/** Keys of `export interface <name> { ... }` in a source file. */
function interfaceKeys(source: string, name: string): string[] {
  const body = new RegExp(`export interface ${name} \\{\\n([\\s\\S]*?)\\n\\}`).exec(source)?.[1];
  assert.ok(body, `interface ${name} not found`);
  return [...body.matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1] as string);
}

/** How a default may be written in a table row. */
function defaultForms(v: unknown): string[] {
  if (typeof v === 'string') return [`'${v}'`];
  if (typeof v === 'boolean') return [`\`${v}\``];
  if (typeof v === 'number') {
    const f = [String(v), v.toLocaleString('en-US').replace(/,/g, '_')];
    if (v >= 2 ** 20 && v % 2 ** 20 === 0) f.push(`${v / 2 ** 20} MiB`);
    if (v >= 2 ** 30 && v % 2 ** 30 === 0) f.push(`${v / 2 ** 30} GiB`);
    return f;
  }
  if (typeof v === 'object' && v !== null && Object.keys(v).length === 0) return ['`{}`'];
  return [JSON.stringify(v)];
}

test('configuration.md: every option of every options interface has a row in its section, and every row names a real option', () => {
  const md = read('docs/reference/configuration.md');
  const groups: Array<[string, string, string[]]> = [
    ['App options', 'src/app/app-options.ts', ['AppOptions']],
    ['Queue options', 'src/app/app-options.ts', ['QueueOptions']],
    ['NATS connection', 'src/transport/nats/nats-auth.ts', ['NatsSecurityOptions', 'NatsTlsOptions']],
    ['Message signing', 'src/app/security-options.ts', ['SecurityOptions']],
    ['Worker options', 'src/actors/worker-options.ts', ['WorkerOptions']],
  ];
  for (const [title, file, interfaces] of groups) {
    const text = section(md, title);
    const keys = interfaces.flatMap((i) => interfaceKeys(read(file), i));
    assert.ok(keys.length > 0);
    for (const k of keys) assert.ok(row(text, k), `configuration.md "${title}" has no row for option ${k}`);
    const documented = [...text.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1] as string);
    for (const d of documented) assert.ok(keys.includes(d), `configuration.md "${title}" documents ${d}, which ${interfaces.join('/')} does not have`);
  }
});

test('configuration.md: the defaults in the rows are the exported defaults', () => {
  const md = read('docs/reference/configuration.md');
  const checks: Array<[string, Record<string, unknown>]> = [
    ['App options', DEFAULT_APP_OPTIONS],
    ['Worker options', DEFAULT_WORKER_OPTIONS],
    ['Message signing', DEFAULT_SECURITY_OPTIONS],
  ];
  for (const [title, defaults] of checks) {
    const text = section(md, title);
    for (const [k, v] of Object.entries(defaults)) {
      const r = row(text, k);
      assert.ok(r, `configuration.md "${title}" has no row for ${k}`);
      const cells = r.split(' | ');
      const cell = cells[2] ?? '';
      assert.ok(
        defaultForms(v).some((f) => cell.includes(f)),
        `configuration.md "${title}": the default of ${k} is ${JSON.stringify(v)}, the row says "${cell}"`,
      );
    }
  }
});

test('configuration.md: every environment variable the sources read is documented, and every one documented is read', () => {
  const md = read('docs/reference/configuration.md');
  const src = allSource();
  const read_ = new Set([...read('src/cli/env.ts').matchAll(/env\.(CELERIAC_[A-Z_]+)/g), ...src.matchAll(/process\.env\.(CELERIAC_[A-Z_]+)/g)].map((m) => m[1] as string));
  assert.ok(read_.size >= 20, `expected the CELERIAC_* variables, found ${[...read_].join(', ')}`);
  for (const v of read_) assert.ok(md.includes(`\`${v}`), `configuration.md does not name ${v}`);
  for (const v of [...read_].filter((x) => x !== 'CELERIAC_BROKER_URL')) {
    if (!/^CELERIAC_(NATS|SIGN|VERIFY|ENCRYPTION|APP|DASHBOARD)/.test(v)) {
      // The app options set from the environment: the row of the option names the variable.
      assert.ok(md.split('\n').some((l) => l.startsWith('| `') && l.includes(v)), `${v} is not in an option's row`);
    }
  }
  for (const page of PAGES) {
    for (const m of read(page).matchAll(/\b(CELERIAC_[A-Z_]*[A-Z])\b/g)) {
      assert.ok(src.includes(m[1] as string), `${page} names ${m[1]}, which no source file reads`);
    }
  }
});

interface CliCommand {
  path: string;
  cmd: Command;
}

function commands(cmd: Command, prefix = ''): CliCommand[] {
  return cmd.commands.flatMap((c) => {
    const path = `${prefix}${c.name()}`;
    return [{ path, cmd: c }, ...commands(c, `${path} `)];
  });
}

const headingOf = (path: string) => new RegExp(`^celeriac ${path}(?![\\w-])`);

test('cli.md: every command has a section with an example, and every flag is documented for it with its default', () => {
  const md = read('docs/reference/cli.md');
  const all = commands(buildCli());
  assert.ok(all.length >= 30, `expected the whole command tree, got ${all.length}`);
  const client = section(md, 'Client options');
  const control = section(md, 'Control options');
  // A flag is documented where a table row's first cell names it.
  const flagRow = (text: string, flag: string) => text.split('\n').find((l) => new RegExp(`^\\| \`[^\`]*${flag}(?![\\w-])[^\`]*\` \\|`).test(l));
  const flagIn = (text: string, flag: string) => flagRow(text, flag) !== undefined;
  for (const { path, cmd } of all) {
    if (cmd.commands.length > 0) {
      assert.ok(md.includes(`celeriac ${path}`), `cli.md does not name celeriac ${path}`);
      continue;
    }
    const text = section(md, headingOf(path));
    assert.ok(new RegExp(`\`\`\`sh\\n[^\`]*celeriac ${path}(?![\\w-])`).test(text), `cli.md section of celeriac ${path} has no sh example of it`);
    for (const opt of cmd.options) {
      const flag = opt.long as string;
      const where = flagIn(text, flag)
        ? text
        : text.includes('(#control-options)') && (flagIn(control, flag) || flagIn(client, flag))
          ? flagIn(control, flag)
            ? control
            : client
          : text.includes('(#client-options)') && flagIn(client, flag)
            ? client
            : undefined;
      assert.ok(where !== undefined, `cli.md: flag ${flag} of celeriac ${path} is documented neither in its section nor in the options it links`);
      if (typeof opt.defaultValue === 'string') {
        const r = flagRow(where, flag);
        assert.ok(r?.includes(`\`${opt.defaultValue}\``), `cli.md: default of ${flag} of celeriac ${path} is "${opt.defaultValue}"; row: ${r}`);
      }
      if (opt.mandatory) {
        const r = flagRow(where, flag);
        assert.ok(r?.includes('required'), `cli.md: ${flag} of celeriac ${path} is required; row: ${r}`);
      }
    }
  }
});

/** Check a `celeriac ...` command line against the command tree: the command exists and takes the flags. */
function checkCommandLine(line: string, root: Command, where: string): void {
  const words = line.replace(/'[^']*'/g, "''").split(/\s+/).filter(Boolean);
  let cmd = root;
  let i = 1;
  for (; i < words.length; i++) {
    const sub = cmd.commands.find((c) => c.name() === words[i]);
    if (!sub) break;
    cmd = sub;
  }
  assert.ok(cmd !== root || words[1]?.startsWith('-'), `${where}: "${line}": no such command`);
  for (const w of words.slice(i)) {
    const flag = /^(--?[A-Za-z][\w-]*)/.exec(w)?.[1];
    if (!flag || flag === '--help' || flag === '--version' || flag === '-h') continue;
    const ok = cmd.options.some((o) => o.long === flag || o.short === flag);
    assert.ok(ok, `${where}: "${line}": celeriac ${cmd.name()} has no flag ${flag}`);
  }
}

test('every celeriac command line in the pages exists and uses real flags; every --flag in cli.md is registered', () => {
  const root = buildCli();
  const longs = new Set(commands(root).flatMap(({ cmd }) => cmd.options.map((o) => o.long)));
  longs.add('--help').add('--version');
  for (const m of read('docs/reference/cli.md').matchAll(/(?<![\w-])(--[a-z][a-z-]*)/g)) assert.ok(longs.has(m[1] as string), `cli.md names ${m[1]}, which no command registers`);
  let lines = 0;
  for (const page of PAGES) {
    for (const block of read(page).matchAll(/```sh\n([\s\S]*?)```/g)) {
      for (const raw of (block[1] ?? '').split('\n')) {
        const line = raw.replace(/\s+#.*$/, '').replace(/^[A-Z_]+=\S+\s+/, '').trim();
        if (!line.startsWith('celeriac ')) continue;
        checkCommandLine(line, root, page);
        lines++;
      }
    }
  }
  assert.ok(lines >= 40, `expected the examples, checked ${lines}`);
});

test('errors.md: every error class of src/errors.ts has a row with its code; every code named exists; every dead-letter reason is listed', () => {
  const md = read('docs/reference/errors.md');
  const errorsTs = read('src/errors.ts');
  const classes = [...errorsTs.matchAll(/export class (\w+) extends CeleriacError \{([\s\S]*?)(?=\nexport )/g)];
  assert.ok(classes.length >= 25, `expected the error classes, found ${classes.length}`);
  for (const [, name, body] of classes) {
    const code = /'(E_[A-Z_]+)'/.exec(body ?? '')?.[1];
    assert.ok(code, `no code found for ${name}`);
    const r = row(md, name as string);
    assert.ok(r, `errors.md has no row for ${name}`);
    assert.ok(r.includes(`\`${code}\``), `errors.md: the row of ${name} does not give its code ${code}`);
  }
  assert.ok(row(md, 'CeleriacError'), 'errors.md has no row for CeleriacError');
  for (const m of errorsTs.matchAll(/'(E_[A-Z_]+)'/g)) assert.ok(md.includes(`\`${m[1]}\``), `errors.md does not name ${m[1]}`);
  const src = allSource();
  for (const m of md.matchAll(/\b(E_[A-Z_]*[A-Z])\b/g)) assert.ok(src.includes(`'${m[1]}'`), `errors.md names ${m[1]}, which no source file uses`);
  const reasons = /export type DeadLetterReason =([\s\S]*?);/.exec(read('src/execution/dead-letter.ts'))?.[1] ?? '';
  const names = [...reasons.matchAll(/\| '([a-z-]+)'/g)].map((m) => m[1] as string);
  assert.ok(names.length >= 8, `expected the dead-letter reasons, found ${names.join(', ')}`);
  const table = section(md, 'Dead-letter reasons');
  for (const n of names) assert.ok(row(table, n), `errors.md has no dead-letter reason ${n}`);
});

test('metrics-and-events.md: every metric with its instrument and unit, every attribute, span event and event type', () => {
  const md = read('docs/reference/metrics-and-events.md');
  const metricsTs = read('src/telemetry/metrics.ts');
  const metrics = section(md, /^Metrics$/);
  for (const name of Object.values(METRIC)) assert.ok(row(metrics, name), `no row for metric ${name}`);
  const created = [...metricsTs.matchAll(/create(Counter|Histogram|ObservableGauge|ObservableCounter)\(METRIC\.(\w+),\s*\{([^}]*)\}/g)];
  assert.equal(new Set(created.map((m) => m[2])).size, Object.keys(METRIC).length, 'every METRIC is created once in metrics.ts');
  for (const [, kind, key, opts] of created) {
    const r = row(metrics, METRIC[key as keyof typeof METRIC]) as string;
    const cells = r.split(' | ');
    const words = (kind as string).replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
    assert.equal(cells[1], words, `metric ${METRIC[key as keyof typeof METRIC]} is a ${words}`);
    const unit = /unit: '(\w+)'/.exec(opts ?? '')?.[1];
    if (unit) assert.equal(cells[2], unit, `unit of ${METRIC[key as keyof typeof METRIC]}`);
  }
  for (const a of Object.values(ATTR)) assert.ok(row(section(md, 'Span attributes'), a), `no row for span attribute ${a}`);
  for (const e of Object.values(EVENT)) assert.ok(md.includes(`\`${e}\``), `span event ${e} missing`);
  const known = metricsTs + read('src/telemetry/attributes.ts');
  for (const m of md.matchAll(/`(celeriac\.[a-z_.]*[a-z])`/g)) assert.ok(known.includes(`'${m[1]}'`), `metrics-and-events.md names ${m[1]}, unknown to the telemetry sources`);
  const emitter = read('src/execution/event-emitter.ts');
  const types = ['TaskEventType', 'WorkerEventType'].flatMap((t) => [...(new RegExp(`export type ${t} = ([^;]*);`).exec(emitter)?.[1] ?? '').matchAll(/'([a-z-]+)'/g)].map((m) => m[1] as string));
  assert.ok(types.length >= 13, `expected the event types, found ${types.join(', ')}`);
  const events = section(md, /^Events$/);
  for (const t of types) assert.ok(row(events, t), `no row for event type ${t}`);
  for (const m of events.matchAll(/^\| `([a-z-]+)` \|/gm)) assert.ok(types.includes(m[1] as string), `event type ${m[1]} does not exist`);
});

/** GitHub's anchor of a heading. */
function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

test('every relative link of the pages points to an existing file and heading', () => {
  for (const page of PAGES) {
    const md = read(page);
    for (const m of md.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1] as string;
      if (/^[a-z]+:/.test(target)) continue;
      const [file, anchor] = target.split('#');
      const path = file ? resolve(dirname(join(ROOT, page)), file) : join(ROOT, page);
      assert.ok(existsSync(path), `${page}: link ${target}: no such file`);
      if (anchor && path.endsWith('.md')) {
        const anchors = new Set([...readFileSync(path, 'utf8').matchAll(/^#{1,6} (.*)$/gm)].map((h) => slug(h[1] as string)));
        assert.ok(anchors.has(anchor), `${page}: link ${target}: no heading with that anchor`);
      }
    }
  }
});
