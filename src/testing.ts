/**
 * The test kit (`celeriac/testing`): helpers for plugin authors and integration tests.
 * @module celeriac/testing
 */
export { startNatsServer } from './testing/nats-server.ts';
export type { NatsServerHandle, NatsServerOptions } from './testing/nats-server.ts';
export { startNatsCluster } from './testing/nats-cluster.ts';
export type { NatsClusterHandle, NatsClusterNode, NatsClusterOptions } from './testing/nats-cluster.ts';
export { resetMemoryBroker } from './transport/memory/memory-broker.ts';
export { silentLogger } from './util/logger.ts';
export { middlewareHarness } from './testing/middleware-harness.ts';
export type { HarnessOutcome, MiddlewareHarness, RecordedSignal } from './testing/middleware-harness.ts';
