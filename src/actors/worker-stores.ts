/**
 * The stores a worker node opens at start: the result backend, the attempt ledger (crash
 * attribution), the dead-letter stream and the revoked task ids, opened by its `results` actor.
 * @module
 */
import type { AttemptLedger } from '../results/attempt-ledger.ts';
import type { ResultBackend } from '../results/result-backend.ts';
import type { Revocations } from '../results/revocations.ts';
import type { DeadLetterStore } from '../transport/transport.ts';
import type { ActorBehavior } from './kernel/index.ts';
import type { WorkerApp } from './worker-app.ts';

/** The stores of a running worker node. */
export interface WorkerStores {
  backend: ResultBackend;
  ledger: AttemptLedger;
  deadLetters: DeadLetterStore;
  revocations: Revocations;
}

/**
 * The `results` actor: opens the app's stores and puts them `into` the given holder as each opens
 * (again after a crash); the holder is complete once the actor has started.
 */
export function storesActor(app: Pick<WorkerApp, 'resultBackend' | 'attemptLedger' | 'deadLetterStore' | 'revocations'>, into: Partial<WorkerStores>): () => ActorBehavior<never> {
  return () => ({
    async start() {
      into.backend = await app.resultBackend();
      into.ledger = await app.attemptLedger();
      into.deadLetters = await app.deadLetterStore();
      into.revocations = await app.revocations();
    },
    receive() {},
  });
}
