#!/usr/bin/env node
// The `celeriac` binary. Runs the built CLI from dist/ when present; otherwise registers tsx and
// runs the TypeScript sources (so tasks modules written in TypeScript load either way).
import { existsSync } from 'node:fs';
import { register } from 'tsx/esm/api';

const built = new URL('../dist/src/cli/main.js', import.meta.url);
register();
const { main } = existsSync(built) ? await import(built.href) : await import(new URL('../src/cli/main.ts', import.meta.url).href);
await main(process.argv);
process.exit(process.exitCode ?? 0);
