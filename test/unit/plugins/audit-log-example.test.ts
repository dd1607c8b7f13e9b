/** The worked example of docs/guide/writing-plugins.md, tested with the plugin author kit. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AuditEntry, auditLog } from '../../../examples/04-audit-plugin/audit-log.ts';
import { middlewareHarness } from '../../../src/testing.ts';
import { AUDIT_LINES, runExample } from '../../helpers/run-example.ts';

test('audit-log: stamps the sender, times each execution, records failures and retries', async () => {
  const entries: AuditEntry[] = [];
  let calls = 0;
  const h = await middlewareHarness([auditLog({ actor: 'svc-a', sink: (e) => entries.push(e) })], (app) => ({
    flaky: app.task('flaky', async (ctx) => {
      if (calls++ === 0) throw new Error('busy');
      return ctx.headers['audit-actor'];
    }, { retry: { autoretryFor: [Error], maxRetries: 1, countdown: 10 } }),
    broken: app.task('broken', async () => {
      throw new Error('always');
    }, { deadLetter: false }),
  }));
  try {
    const ok = await h.call(h.tasks.flaky, []);
    assert.equal(ok.state, 'SUCCESS');
    assert.equal(ok.result, 'svc-a', 'the task sees the stamped header');
    const bad = await h.call(h.tasks.broken, []);
    assert.equal(bad.state, 'FAILURE');
    assert.equal(bad.error?.message, 'always');
    const of = (id: string) => entries.filter((e) => e.id === id).map((e) => e.kind).sort();
    assert.deepEqual(of(ok.id), ['failed', 'ran', 'retried', 'sent']);
    assert.deepEqual(of(bad.id), ['failed', 'sent']);
    assert.ok(entries.filter((e) => e.kind === 'ran').every((e) => typeof e.ms === 'number'));
    // The kit recorded the signals too.
    assert.deepEqual(
      h.signalsOf(ok.id).filter((s) => s !== 'afterPublish' && s !== 'beforePublish'),
      ['prerun', 'retry', 'postrun', 'prerun', 'success', 'postrun'],
    );
  } finally {
    await h.close();
  }
  assert.deepEqual(
    h.signals.filter((s) => s.signal.startsWith('worker')).map((s) => s.signal),
    ['workerReady', 'workerShutdown'],
  );
});

test('the audit example runs', async () => {
  const lines = (await runExample('examples/04-audit-plugin/main.ts')).trim().split('\n');
  assert.deepEqual(lines, AUDIT_LINES);
});
