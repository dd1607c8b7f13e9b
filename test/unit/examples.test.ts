/** `npm start` (examples/01-quickstart on memory://) runs to the end with the output it promises. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CANVAS_LINES, FAILURES_LINES, HTTP_API_LINES, QUICKSTART_LINES, TRACING_LINES, TRACING_TREE, printedTrace, runExample } from '../helpers/run-example.ts';

test('the quickstart demo runs on the embedded transport and exits 0', async () => {
  const lines = (await runExample('examples/01-quickstart/main.ts')).trim().split('\n');
  QUICKSTART_LINES.forEach((re, i) => assert.match(lines[i] ?? '', re));
  assert.ok(lines.includes('data.import progress    -> {"done":5,"total":5}'));
  assert.ok(lines.includes('data.import SUCCESS     -> {"imported":5}'));
  assert.ok(lines.some((l) => /^payments\.charge\s+-> FAILURE: RangeError: amount 1000000 is over the card limit$/.test(l)));
  assert.equal(lines.at(-1), 'done');
});

test('the failures example runs on the embedded transport', async () => {
  const lines = (await runExample('examples/02-failures/main.ts')).trim().split('\n');
  assert.equal(lines.length, FAILURES_LINES.length, lines.join('\n'));
  FAILURES_LINES.forEach((re, i) => assert.match(lines[i] ?? '', re));
});

test('the canvas example runs on the embedded transport', async () => {
  const lines = (await runExample('examples/03-canvas/main.ts')).trim().split('\n');
  assert.equal(lines.length, CANVAS_LINES.length, lines.join('\n'));
  CANVAS_LINES.forEach((re, i) => assert.match(lines[i] ?? '', re));
});

test('the tracing example prints one trace from the HTTP route through the chain and the CPU thread', async () => {
  const lines = (await runExample('examples/05-tracing/main.ts')).trim().split('\n');
  assert.equal(lines[0], 'worker and API started on memory://');
  TRACING_LINES.forEach((re, i) => assert.match(lines[i] ?? '', re));
  const { traces, spans } = printedTrace(lines.slice(TRACING_LINES.length));
  assert.equal(traces.length, 1, `one trace:\n${lines.join('\n')}`);
  assert.deepEqual(spans, TRACING_TREE, lines.join('\n'));
  assert.equal(lines.at(-1), 'done');
});

for (const framework of ['express', 'fastify']) {
  test(`the ${framework} example answers 202, streams the progress over SSE and closes a stream its client left`, async () => {
    const lines = (await runExample(`examples/${framework}/main.ts`)).trim().split('\n');
    assert.equal(lines.length, HTTP_API_LINES.length + 1, lines.join('\n'));
    assert.equal(lines[0], 'worker and API started on memory://');
    HTTP_API_LINES.forEach((re, i) => assert.match(lines[i + 1] ?? '', re, lines.join('\n')));
  });
}
