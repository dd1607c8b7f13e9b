import { MemoryTransport } from '../transport/memory/memory-transport.ts';
import { NatsTransport } from '../transport/nats/nats-transport.ts';
import type { Transport } from '../transport/transport.ts';
import { type ResolvedAppOptions, queueSettingsOf } from './app-options.ts';

/** The broker of an app's options: `memory://` (embedded) or `nats://` (JetStream). Connected lazily by its operations. */
export function createTransport(o: Readonly<ResolvedAppOptions>, origin: string, onWarning: (msg: string) => void): Transport {
  if (o.broker.startsWith('memory://')) {
    return new MemoryTransport(o.broker, {
      maxMessages: o.maxQueuedTasks,
      namespace: o.name,
      ackWaitMs: o.ackWaitMs,
      queueSettings: (q) => queueSettingsOf(o, q),
      maxDeadLetters: o.maxDeadLetters,
      onWarning,
    });
  }
  return new NatsTransport(o.broker.replace(/^nats:\/\//, ''), {
    app: o.name,
    name: `celeriac:${o.name}:${origin}`,
    maxQueueMessages: o.maxQueuedTasks,
    maxQueueBytes: o.maxQueuedBytes,
    maxPayloadBytes: o.maxPayloadBytes,
    duplicateWindowMs: o.duplicateWindowMs,
    queueSettings: (q) => queueSettingsOf(o, q),
    maxDeadLetters: o.maxDeadLetters,
    onWarning,
    updateExisting: o.updateBrokerConfig,
    maxAckPending: o.maxAckPending,
    publishTimeoutMs: o.publishTimeoutMs,
    pullExpiresMs: 10_000,
    security: o.nats,
    replicas: o.streamReplicas,
  });
}
