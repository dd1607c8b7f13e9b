/** examples/notifications on the embedded memory:// broker. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matchNotificationLines } from '../helpers/notifications-lines.ts';
import { runExample } from '../helpers/run-example.ts';

test('the notifications example prints priority, fan-out, rate limit, retries by error class, the circuit, dead letters and the digest', async () => {
  const started = Date.now();
  const next = matchNotificationLines(await runExample('examples/notifications/main.ts'), (line, re) => assert.match(line, re));
  // The beat entry's next run is the next 08:00 UTC: after the start, at most a day after the end.
  assert.ok(next.getTime() > started && next.getTime() <= Date.now() + 86_400_000, `next run ${next.toISOString()}`);
});
