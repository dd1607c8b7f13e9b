import { Executor, type ExecutorOptions } from '../../src/execution/executor.ts';
import { resolveRetryOptions } from '../../src/execution/retry-policy.ts';
import { registerTaskDefinition } from '../../src/execution/task-definition.ts';
import { codecByName } from '../../src/protocol/codec.ts';
import type { EncodedTask } from '../../src/protocol/envelope.ts';
import { AttemptLedger } from '../../src/results/attempt-ledger.ts';
import { KvResultBackend } from '../../src/results/result-backend.ts';
import { silentLogger } from '../../src/testing.ts';
import { memoryBroker } from '../../src/transport/memory/memory-broker.ts';
import { MemoryDeadLetterStore } from '../../src/transport/memory/memory-dead-letters.ts';
import { MemoryKeyValueStore } from '../../src/transport/memory/memory-kv.ts';
import type { IncomingMessage } from '../../src/transport/transport.ts';

/**
 * An incoming message for executor-level unit tests: delivery `deliveryCount` of stream message
 * `sequence` carrying the encoded task `t`; `settled` lists the ack verbs the executor sent.
 */
export function fakeMessage(t: EncodedTask, sequence: number, deliveryCount: number): IncomingMessage & { settled: string[] } {
  const settled: string[] = [];
  return {
    settled,
    queue: 'default',
    body: t.body,
    delivery: { stream: 'default', sequence, deliveryCount, redelivered: deliveryCount > 1 },
    header: (n) => t.headers[n],
    headerNames: () => Object.keys(t.headers),
    ack: () => void settled.push('ack'),
    nak: () => void settled.push('nak'),
    term: () => void settled.push('term'),
    working: () => undefined,
  };
}

/**
 * An executor over a memory broker for executor-level unit tests: results in a KV backend, a dead-
 * letter store, an attempt ledger, no trackStarted, AckWait 30 s; `overrides` replace any option.
 */
export function memoryExecutor(app: string, overrides: Partial<ExecutorOptions> = {}): { backend: KvResultBackend; executor: Executor } {
  const broker = memoryBroker(app);
  const backend = new KvResultBackend(new MemoryKeyValueStore('results', broker, 0), codecByName('msgpack'));
  const executor = new Executor({
    appName: app,
    hostname: 'w',
    backend,
    logger: silentLogger,
    trackStarted: false,
    ackWaitMs: 30_000,
    queueSettings: () => ({ ackWaitMs: 30_000, maxDeliver: 10 }),
    maxCrashes: 5,
    deadLetters: new MemoryDeadLetterStore(broker.deadLetters(app), 1000),
    ledger: new AttemptLedger(new MemoryKeyValueStore('attempts', broker, 0)),
    republish: async () => undefined,
    ...overrides,
  });
  return { backend, executor };
}

/** Register an I/O task `name` running `fn` in `app`'s registry, with the default options (executor-level tests). */
export function registerTestTask(app: string, name: string, fn: (...a: never[]) => unknown): void {
  registerTaskDefinition(app, {
    name,
    fn: fn as never,
    kind: 'io',
    queue: 'default',
    ignoreResult: false,
    retry: resolveRetryOptions(undefined, 'test'),
    timeLimitMs: null,
    softTimeLimitMs: null,
    deadLetter: true,
  });
}
