/** examples/data-pipeline on the embedded transport: its lines, the files it loads, and its clean-up. */
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { test } from 'node:test';
import { checkDataPipelineExample } from '../helpers/data-pipeline-example.ts';
import { runExample } from '../helpers/run-example.ts';

test('the data-pipeline example extracts three sources in parallel, rejects bad rows with reasons, aggregates in a chord and loads the files', async () => {
  await checkDataPipelineExample();
});

test('without PIPELINE_OUT_DIR the data-pipeline example removes its temporary output folder', async () => {
  const before = process.env.PIPELINE_OUT_DIR;
  delete process.env.PIPELINE_OUT_DIR;
  try {
    const lines = (await runExample('examples/data-pipeline/main.ts')).trim().split('\n');
    const printed = lines.map((l) => /^output {11}-> (\S+) \(removed at exit; set PIPELINE_OUT_DIR to keep it\)$/.exec(l)?.[1]).find(Boolean);
    assert.ok(printed, lines.join('\n'));
    assert.equal(lines.at(-1), 'done');
    await assert.rejects(stat(dirname(printed)), { code: 'ENOENT' });
  } finally {
    if (before !== undefined) process.env.PIPELINE_OUT_DIR = before;
  }
});
