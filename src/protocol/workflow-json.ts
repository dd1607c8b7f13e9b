/**
 * Wire form of signatures and workflows (docs/protocol.md, "Workflows"): what travels in a task
 * message's `embed` (`callbacks`, `errbacks`, `chain`, `chord`) and what `toJSON()` of a signature
 * or workflow gives. Plain data, the same in JSON and msgpack; field names follow Celery's
 * signature dicts (`task`, `args`, `kwargs`, `options`, `subtask_type`, `immutable`).
 * @module
 */
import { DecodeError } from '../errors.ts';
import { isValidTaskName } from './names.ts';

/** Call options a signature carries (the JSON-safe part of `ApplyOptions`; durations as ms numbers or strings such as `'30s'`). */
export interface SignatureOptionsJSON {
  /** Task id; for a group the group id, for a chord the chord (join) id. Assigned when the workflow is applied. */
  taskId?: string;
  queue?: string;
  priority?: number;
  countdown?: number | string;
  /** ISO 8601. */
  eta?: string;
  /** ISO 8601 date, or a duration from the time the task is published. */
  expires?: string | number;
  headers?: Record<string, string>;
  timeLimit?: number | string;
  softTimeLimit?: number | string;
  ignoreResult?: boolean;
  /** Run with the result once the task succeeds. */
  link?: WorkflowJSON[];
  /** Run with `(taskId, error)` once the task fails for good. */
  linkError?: WorkflowJSON[];
  /** Chord only: the body gets successes and errors (as `PromiseSettledResult`s) instead of failing. */
  allowPartial?: boolean;
}

/** A single task call. */
export interface TaskSignatureJSON {
  subtask_type?: null;
  task: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  options?: SignatureOptionsJSON;
  /** Ignore the parent's result (a chain does not prepend it). */
  immutable?: boolean;
  /** Set when the workflow is applied: this task's result completes a chord header member. */
  chord?: ChordMembership;
}

/** Tasks one after another; each gets the previous result prepended to its arguments. */
export interface ChainJSON {
  subtask_type: 'chain';
  tasks: WorkflowJSON[];
  options?: SignatureOptionsJSON;
}

/** Tasks in parallel; the result is the list of their results in order. */
export interface GroupJSON {
  subtask_type: 'group';
  tasks: WorkflowJSON[];
  options?: SignatureOptionsJSON;
}

/** A group (the header) whose list of results is given to the body once all have finished. */
export interface ChordJSON {
  subtask_type: 'chord';
  header: WorkflowJSON[];
  body: WorkflowJSON;
  options?: SignatureOptionsJSON;
}

/** Any signature or workflow. */
export type WorkflowJSON = TaskSignatureJSON | ChainJSON | GroupJSON | ChordJSON;

/**
 * Membership of a task in a chord header (in the message's `embed.chord`): when the task reaches a
 * final state, it records its outcome as member `index` of chord `id`; the member that completes the
 * join publishes `body`.
 */
export interface ChordMembership {
  /** Chord (join) id. */
  id: string;
  /** Position in the header. */
  index: number;
  /** Header size. */
  size: number;
  body: WorkflowJSON;
  allowPartial: boolean;
}

const MAX_DEPTH = 64;
const WHAT_TYPES = "'chain', 'group', 'chord' or null";

function fail(where: string, msg: string): never {
  throw new DecodeError(`${where}: ${msg}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function validateList(v: unknown, where: string, depth: number): WorkflowJSON[] {
  if (!Array.isArray(v)) fail(where, 'must be an array of signatures');
  v.forEach((x, i) => validateWorkflow(x, `${where}[${i}]`, depth + 1));
  return v as WorkflowJSON[];
}

function validateOptions(v: unknown, where: string, depth: number): void {
  if (v === undefined || v === null) return;
  if (!isObject(v)) fail(where, 'must be an object');
  if (v.taskId !== undefined && (typeof v.taskId !== 'string' || !isValidTaskName(v.taskId))) {
    fail(`${where}.taskId`, `must be 1-200 chars of [A-Za-z0-9_.:-], got ${JSON.stringify(v.taskId)}`);
  }
  if (v.link !== undefined) validateList(v.link, `${where}.link`, depth);
  if (v.linkError !== undefined) validateList(v.linkError, `${where}.linkError`, depth);
}

/**
 * Check that `v` is a well-formed {@link WorkflowJSON} (shape only: task names and ids, nesting,
 * array fields); options are checked again when a task is published.
 * @throws DecodeError naming the path of the first bad field, e.g. `embed.chain[2].args`.
 */
export function validateWorkflow(v: unknown, where = 'workflow', depth = 0): WorkflowJSON {
  if (depth > MAX_DEPTH) fail(where, `nested more than ${MAX_DEPTH} levels deep`);
  if (!isObject(v)) fail(where, 'must be a signature object');
  const type = v.subtask_type ?? null;
  validateOptions(v.options, `${where}.options`, depth);
  switch (type) {
    case null: {
      if (typeof v.task !== 'string' || !isValidTaskName(v.task)) fail(`${where}.task`, `must be a task name, got ${JSON.stringify(v.task)}`);
      if (v.args !== undefined && !Array.isArray(v.args)) fail(`${where}.args`, 'must be an array');
      if (v.kwargs !== undefined && v.kwargs !== null && !isObject(v.kwargs)) fail(`${where}.kwargs`, 'must be an object');
      if (v.immutable !== undefined && typeof v.immutable !== 'boolean') fail(`${where}.immutable`, 'must be a boolean');
      if (v.chord !== undefined) validateMembership(v.chord, `${where}.chord`, depth);
      return v as unknown as TaskSignatureJSON;
    }
    case 'chain':
    case 'group':
      validateList(v.tasks, `${where}.tasks`, depth);
      if (type === 'chain' && (v.tasks as unknown[]).length === 0) fail(`${where}.tasks`, 'a chain needs at least one task');
      return v as unknown as WorkflowJSON;
    case 'chord':
      validateList(v.header, `${where}.header`, depth);
      validateWorkflow(v.body, `${where}.body`, depth + 1);
      return v as unknown as ChordJSON;
    default:
      return fail(`${where}.subtask_type`, `must be ${WHAT_TYPES}, got ${JSON.stringify(type)}`);
  }
}

/**
 * Check an `embed.chord` membership.
 * @throws DecodeError naming the bad field.
 */
export function validateMembership(v: unknown, where = 'chord', depth = 0): ChordMembership {
  if (!isObject(v)) fail(where, 'must be an object {id, index, size, body, allowPartial}');
  if (typeof v.id !== 'string' || !isValidTaskName(v.id)) fail(`${where}.id`, `must be a chord id, got ${JSON.stringify(v.id)}`);
  if (!Number.isInteger(v.size) || (v.size as number) < 1) fail(`${where}.size`, `must be a positive integer, got ${JSON.stringify(v.size)}`);
  if (!Number.isInteger(v.index) || (v.index as number) < 0 || (v.index as number) >= (v.size as number)) {
    fail(`${where}.index`, `must be an integer in [0, size), got ${JSON.stringify(v.index)}`);
  }
  if (v.allowPartial !== undefined && typeof v.allowPartial !== 'boolean') fail(`${where}.allowPartial`, 'must be a boolean');
  validateWorkflow(v.body, `${where}.body`, depth + 1);
  return v as unknown as ChordMembership;
}

/** True for a single task signature. */
export function isTaskSignatureJSON(w: WorkflowJSON): w is TaskSignatureJSON {
  return (w.subtask_type ?? null) === null;
}
