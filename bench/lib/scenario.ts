/**
 * What every benchmark scenario does around its probes: start its own nats-server (fresh store,
 * random port) with Ctrl-C / SIGTERM handling that kills the role processes and stops the server,
 * and run `main` to an exit code (1 on an error, after killing the roles).
 * @module
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';
import { killAllRoles } from './child.ts';

/** The scenario's nats-server; on SIGINT/SIGTERM the roles are killed, the server stopped, exit 130. */
export async function startBenchServer(): Promise<NatsServerHandle> {
  const server = await startNatsServer();
  const onSignal = () => {
    killAllRoles();
    void server.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return server;
}

/** Run a scenario's `main` and exit with its code (1 after an error, with the roles killed). */
export function runScenario(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      killAllRoles();
      process.exit(1);
    },
  );
}

/** Delete every stream on the bench server, so each probe starts from an empty store. */
export async function wipeStreams(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const names: string[] = [];
  for await (const name of jsm.streams.names()) names.push(name);
  for (const name of names) await jsm.streams.delete(name);
}

/** A numeric field of a role's result. @throws naming the field and the result when it is missing. */
export function numberOf(r: Record<string, unknown>, key: string): number {
  const v = r[key];
  if (typeof v !== 'number') throw new Error(`role result has no numeric ${key}: ${JSON.stringify(r).slice(0, 500)}`);
  return v;
}
