/** examples/06-message-signing (the runnable example of docs/guide/message-signing.md) prints what the guide says. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SIGNING_LINES as LINES, runExample } from '../../helpers/run-example.ts';

test('the message-signing example runs on the embedded transport and refuses what it should', async () => {
  const lines = (await runExample('examples/06-message-signing/main.ts')).trim().split('\n');
  assert.equal(lines.length, LINES.length, lines.join('\n'));
  LINES.forEach((re, i) => assert.match(lines[i] ?? '', re));
});

test('every code block of docs/guide/message-signing.md that is TypeScript is part of the example', async () => {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const guide = await readFile(`${root}docs/guide/message-signing.md`, 'utf8');
  const example = await readFile(`${root}examples/06-message-signing/main.ts`, 'utf8');
  const squash = (s: string) => s.replace(/\s+/g, ' ').trim();
  const blocks = [...guide.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  assert.ok(blocks.length >= 2);
  for (const b of blocks) assert.ok(squash(example).includes(squash(b)), `not in the example:\n${b}`);
});
