/**
 * Provisioning asks JetStream again when a request goes unanswered: in a cluster, a stream whose
 * leader died answers nothing until a new leader is elected, and a request sent meanwhile times out.
 * (test/integration/cluster.test.ts kills a real stream leader; this pins the rule itself.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JetStreamManager, StreamConfig, StreamInfo } from '@nats-io/jetstream';
import { TimeoutError as NatsTimeoutError } from '@nats-io/transport-node';
import { isTimeoutError } from '../../../src/errors.ts';
import { PROVISION_TRIES, ensureStream, kvStreamConfig } from '../../../src/transport/nats/provision.ts';

/** A manager whose `streams.info` fails with the given errors, then returns the stream as asked for. */
function managerFailing(errors: unknown[], want: Partial<StreamConfig>): { jsm: JetStreamManager; calls: () => number } {
  let calls = 0;
  const streams = {
    info: async (): Promise<StreamInfo> => {
      calls++;
      const err = errors.shift();
      if (err) throw err;
      return { config: want } as StreamInfo;
    },
  };
  return { jsm: { streams } as unknown as JetStreamManager, calls: () => calls };
}

test('a stream info that times out is asked again, with a warning naming the stream', async () => {
  const want = { ...kvStreamConfig('app-results', 60_000), num_replicas: 1 };
  const { jsm, calls } = managerFailing([new NatsTimeoutError()], want);
  const warnings: string[] = [];
  await ensureStream(jsm, want, true, (w) => warnings.push(w));
  assert.equal(calls(), 2);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] ?? '', /stream KV_app-results: JetStream did not answer \(timeout\); asking again \(try 2 of 3\)/);
});

test(`after ${PROVISION_TRIES} unanswered tries it is a Celeriac TimeoutError that says what to check`, async () => {
  const want = { ...kvStreamConfig('app-results', 60_000), num_replicas: 1 };
  const { jsm, calls } = managerFailing(Array.from({ length: PROVISION_TRIES }, () => new NatsTimeoutError()), want);
  await assert.rejects(ensureStream(jsm, want, true), (err: unknown) => {
    assert.ok(isTimeoutError(err));
    assert.equal(err.code, 'E_TIMEOUT');
    assert.match(err.message, /stream KV_app-results: JetStream did not answer in 3 tries .*nats stream report/);
    return true;
  });
  assert.equal(calls(), PROVISION_TRIES);
});

test('other errors are not asked again', async () => {
  const want = { ...kvStreamConfig('app-results', 60_000), num_replicas: 1 };
  const { jsm, calls } = managerFailing([new Error('permissions violation')], want);
  await assert.rejects(ensureStream(jsm, want, true), /permissions violation/);
  assert.equal(calls(), 1);
});
