#!/usr/bin/env node
// The `celeriac` binary. In a checkout it runs the TypeScript sources through tsx; an installed
// package (which ships dist/ and no src/) runs the built JavaScript. tsx is registered either way so
// that `-A tasks.ts` modules written in TypeScript load.
import { existsSync } from 'node:fs';
import { register } from 'tsx/esm/api';

register();
const source = new URL('../src/cli/main.ts', import.meta.url);
const built = new URL('../dist/src/cli/main.js', import.meta.url);
const { main } = await import(existsSync(source) ? source.href : built.href);
await main(process.argv);
process.exit(process.exitCode ?? 0);
