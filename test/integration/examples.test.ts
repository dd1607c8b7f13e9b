/** The examples with CELERIAC_BROKER_URL pointing at a real nats-server. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { CANVAS_LINES, FAILURES_LINES, QUICKSTART_LINES, runExample } from '../helpers/run-example.ts';

let server: NatsServerHandle;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server.stop();
});

test('the quickstart demo runs unchanged on NATS JetStream', async () => {
  const lines = (await runExample('examples/01-quickstart/main.ts', server.url)).trim().split('\n');
  assert.match(lines[0] ?? '', new RegExp(`^worker started on ${server.url.replace(/[.]/g, '\\.')} `));
  QUICKSTART_LINES.slice(1).forEach((re, i) => assert.match(lines[i + 1] ?? '', re));
  assert.ok(lines.includes('data.import SUCCESS     -> {"imported":5}'));
  assert.equal(lines.at(-1), 'done');
});

test('the failures example runs unchanged on NATS JetStream', async () => {
  const lines = (await runExample('examples/02-failures/main.ts', server.url)).trim().split('\n');
  assert.equal(lines.length, FAILURES_LINES.length, lines.join('\n'));
  FAILURES_LINES.forEach((re, i) => assert.match(lines[i] ?? '', re));
});

test('the canvas example runs unchanged on NATS JetStream', async () => {
  const lines = (await runExample('examples/03-canvas/main.ts', server.url)).trim().split('\n');
  assert.equal(lines.length, CANVAS_LINES.length, lines.join('\n'));
  CANVAS_LINES.forEach((re, i) => assert.match(lines[i] ?? '', re));
});
