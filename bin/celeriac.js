#!/usr/bin/env node
// The `celeriac` binary. In a checkout it runs the TypeScript sources through tsx; an installed
// package (which ships dist/ and no src/) runs the built JavaScript. tsx is registered when it is
// needed: from source, or when an argument names a TypeScript module (`-A tasks.ts`). A worker of a
// built app (`-A dist/tasks.js`) does without it: tsx's loader runs in a thread of its own, ~40 MB
// of resident memory (docs/bench/io.md).
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
const built = new URL('../dist/src/cli/main.js', import.meta.url);
const fromSource = existsSync(source);
const typescript = /\.[cm]?tsx?$/;
if (fromSource || process.argv.slice(2).some((a) => typescript.test(a))) {
  const { register } = await import('tsx/esm/api');
  register();
}
const { main } = await import(fromSource ? source.href : built.href);
await main(process.argv);
process.exit(process.exitCode ?? 0);
