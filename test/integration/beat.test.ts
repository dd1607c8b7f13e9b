/**
 * Periodic tasks against a real nats-server: two `celeriac beat` processes and a worker; every 1 s
 * slot is fired exactly once, also across the death of the leading beat process.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type ChildProcess, spawn } from 'node:child_process';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createApp } from '../../src/index.ts';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { until } from '../helpers/failure-scenarios.ts';
import { startWorkerProcess } from '../helpers/worker-process.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let server: NatsServerHandle;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server.stop();
});

function beat(app: string): { proc: ChildProcess; output: () => string } {
  let out = '';
  const proc = spawn(process.execPath, [`${ROOT}bin/celeriac.js`, 'beat', '-A', `${ROOT}test/fixtures/it-tasks.ts`, '-b', server.url], {
    cwd: ROOT,
    env: { ...process.env, IT_APP: app, IT_BEAT: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return { proc, output: () => out };
}

const RUN_MS = process.env.CELERIAC_FULL === '1' ? 60_000 : 14_000;

test(`two beat processes, a 1 s schedule for ${RUN_MS / 1000} s, the leader killed half-way: every slot fired exactly once`, async () => {
  const appName = 'beat2';
  const worker = startWorkerProcess({ broker: server.url, app: appName, args: ['-c', '16'], env: { IT_BEAT: '0' } });
  await worker.ready;
  const a = beat(appName);
  const b = beat(appName);
  const client = createApp({ name: appName, broker: server.url });
  try {
    await until(() => a.output().includes('beat ready') && b.output().includes('beat ready'), 20_000, 'both beats ready');
    await until(() => a.output().includes('beat: this process leads') || b.output().includes('beat: this process leads'), 10_000, 'a leader');
    const leader = a.output().includes('beat: this process leads') ? a : b;
    const standby = leader === a ? b : a;
    await new Promise((r) => setTimeout(r, RUN_MS / 2));
    leader.proc.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, RUN_MS / 2));
    assert.ok(standby.output().includes('beat: this process leads'), 'the standby took over');
    standby.proc.kill('SIGTERM');
    await new Promise<void>((r) => standby.proc.once('exit', () => r()));

    // Every 1 s slot between the first and the last fired one has exactly one execution.
    const end = Date.now();
    const fired: number[] = [];
    for (let slot = Math.floor((end - RUN_MS - 30_000) / 1000) * 1000; slot <= end; slot += 1000) {
      if ((await client.asyncResult(`beat:tick:${slot}`).state()) === 'SUCCESS') fired.push(slot);
    }
    assert.ok(fired.length >= RUN_MS / 1000 - 6, `only ${fired.length} slots fired`);
    const first = fired[0] as number;
    const last = fired.at(-1) as number;
    assert.equal(fired.length, (last - first) / 1000 + 1, 'no slot was skipped across the failover');
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    assert.equal((await jsm.streams.info(`${appName}-tasks`)).state.last_seq, fired.length, 'no slot was published twice');
    await nc.close();
  } finally {
    for (const p of [a.proc, b.proc, worker.proc]) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await client.close();
  }
});
