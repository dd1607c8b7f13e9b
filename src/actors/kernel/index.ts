/**
 * The actor kernel: bounded mailboxes, actors with a start/receive/stop behaviour, and one-for-one
 * supervisors with exponential restart back-off, restart intensity and escalation (supervision trees).
 * @module
 */
export type { ActorBehavior, ActorContext, ActorRef, ActorState, StopReason } from './actor.ts';
export { Mailbox } from './mailbox.ts';
export { DEFAULT_MAILBOX_CAPACITY, Supervisor } from './supervisor.ts';
export type { SpawnOptions } from './supervisor.ts';
export { backoffDelayMs, DEFAULT_SUPERVISOR_OPTIONS, resolveSupervisorOptions } from './supervisor-options.ts';
export type {
  BackoffOptions,
  ResolvedSupervisorOptions,
  SupervisorEvent,
  SupervisorOptions,
} from './supervisor-options.ts';
