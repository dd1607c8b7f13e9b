/**
 * Planning of workflows, pure data in and out (no I/O): normalise a workflow (flatten nested chains
 * and groups, turn a group followed by more work into a chord, push a composite's options down to
 * its tasks), freeze it (give every task, group and chord an id and attach chord memberships to the
 * tasks that complete each header member), and list the task messages that start it.
 * @module
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../errors.ts';
import type { Embed } from '../protocol/envelope.ts';
import {
  type ChainJSON,
  type ChordJSON,
  type ChordMembership,
  type GroupJSON,
  type SignatureOptionsJSON,
  type TaskSignatureJSON,
  type WorkflowJSON,
  isTaskSignatureJSON,
} from '../protocol/workflow-json.ts';

/** Name of the built-in task that returns its first argument (the body of a chord made from a group that must complete as one). */
export const IDENTITY_TASK = 'celeriac.identity';

/** Gives the id of the node at `path` (random on a client; derived from the parent task id on a worker). */
export type IdFor = (path: string) => string;

/**
 * An id derived from `seed` and `path` (UUID-shaped, from SHA-256): a worker continuing a
 * workflow that was not frozen gets the same ids again after a redelivery, so its publishes
 * deduplicate.
 */
export function derivedId(seed: string, path: string): string {
  const h = createHash('sha256').update(seed).update('\u0000').update(path).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

type Opts = SignatureOptionsJSON;

function concat<T>(a: T[] | undefined, b: T[] | undefined): T[] | undefined {
  if (!a?.length) return b?.length ? b : undefined;
  if (!b?.length) return a;
  return [...a, ...b];
}

function isEmpty(o: Opts): boolean {
  for (const k in o) if ((o as Record<string, unknown>)[k] !== undefined) return false;
  return true;
}

function clean(o: Opts): Opts | undefined {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return Object.keys(out).length ? (out as Opts) : undefined;
}

/** Options a member gets from its composite: its own win; link lists are concatenated. */
function inherit(inh: Opts, own: Opts | undefined): Opts {
  return { ...inh, ...(own ?? {}), link: concat(own?.link, inh.link), linkError: concat(own?.linkError, inh.linkError) };
}

/** Options of a composite, split into what its members share and what is placed on some of them. */
function split(o: Opts): { shared: Opts; countdown: Opts; link: Opts['link']; linkError: Opts['linkError']; allowPartial?: boolean; taskId?: string } {
  const { taskId, allowPartial, link, linkError, countdown, eta, ...shared } = o;
  return { shared, countdown: clean({ countdown, eta }) ?? {}, link, linkError, allowPartial, taskId };
}

function identity(): TaskSignatureJSON {
  return { task: IDENTITY_TASK, args: [], immutable: false };
}

/**
 * Normalise a workflow: options pushed down to the tasks, nested chains flattened into their chain,
 * nested groups flattened into their group, and a group or chord followed by more chain elements
 * turned into a chord whose body is the rest of the chain (Celery's "group in a chain is upgraded to
 * a chord"). The result's chains end with at most one group or chord.
 */
export function normalize(w: WorkflowJSON, inherited: Opts = {}): WorkflowJSON {
  if (isTaskSignatureJSON(w)) {
    const options = isEmpty(inherited) ? w.options : clean(inherit(inherited, w.options));
    const out: TaskSignatureJSON = { task: w.task, args: w.args ?? [] };
    if (w.kwargs && Object.keys(w.kwargs).length) out.kwargs = w.kwargs;
    if (options) out.options = options;
    if (w.immutable) out.immutable = true;
    if (w.chord) out.chord = w.chord;
    return out;
  }
  const own = split(inherit(inherited, w.options));
  const ownOpts = clean({ taskId: own.taskId, allowPartial: own.allowPartial });
  switch (w.subtask_type) {
    case 'chain': {
      const n = w.tasks.length;
      const flat: WorkflowJSON[] = [];
      w.tasks.forEach((t, i) => {
        const o: Opts = { ...own.shared, ...(i === 0 ? own.countdown : {}), link: i === n - 1 ? own.link : undefined, linkError: own.linkError };
        const m = normalize(t, o);
        if (m.subtask_type === 'chain') flat.push(...m.tasks);
        else flat.push(m);
      });
      return own.taskId === undefined ? fold(flat, own.link) : withFinalId(fold(flat, own.link), own.taskId);
    }
    case 'group': {
      const tasks: WorkflowJSON[] = [];
      for (const t of w.tasks) {
        const m = normalize(t, { ...own.shared, ...own.countdown, link: own.link, linkError: own.linkError });
        if (m.subtask_type === 'group') tasks.push(...m.tasks);
        else tasks.push(m);
      }
      return { subtask_type: 'group', tasks, ...(ownOpts ? { options: ownOpts } : {}) };
    }
    case 'chord': {
      const header: WorkflowJSON[] = [];
      for (const t of w.header) {
        const m = normalize(t, { ...own.shared, ...own.countdown, linkError: own.linkError });
        if (m.subtask_type === 'group') header.push(...m.tasks);
        else header.push(m);
      }
      const body = normalize(w.body, { ...own.shared, link: own.link, linkError: own.linkError });
      return { subtask_type: 'chord', header, body, ...(ownOpts ? { options: ownOpts } : {}) };
    }
  }
}

/**
 * `w` with `id` on the step whose result is its value (what `get()` on it waits for): a chain's
 * `taskId` goes to its last task, or to the group it ends with, or to its chord's body's last task.
 * @throws InvalidArgumentError when that step has another id of its own.
 */
function withFinalId(w: WorkflowJSON, id: string): WorkflowJSON {
  if (isTaskSignatureJSON(w) || w.subtask_type === 'group') {
    const own = w.options?.taskId;
    if (own !== undefined && own !== id) {
      throw new InvalidArgumentError(`chain .set({ taskId: "${id}" }): the id goes to the chain's last step, which has taskId "${own}" already; set only one of them`);
    }
    return { ...w, options: { ...w.options, taskId: id } };
  }
  if (w.subtask_type === 'chord') return { ...w, body: withFinalId(w.body, id) };
  const last = w.tasks[w.tasks.length - 1];
  return last ? { ...w, tasks: [...w.tasks.slice(0, -1), withFinalId(last, id)] } : w;
}

/**
 * Chain elements after a group or chord become (part of) a chord's body. `link`: the chain's own
 * callbacks, which its last element already carries, except an empty group, which has no member to
 * carry them: they go on the identity body it becomes.
 */
function fold(elements: WorkflowJSON[], link?: Opts['link']): WorkflowJSON {
  for (let i = 0; i < elements.length - 1; i++) {
    const e = elements[i] as WorkflowJSON;
    if (e.subtask_type !== 'group' && e.subtask_type !== 'chord') continue;
    const rest = elements.slice(i + 1);
    const chord: ChordJSON =
      e.subtask_type === 'group'
        ? { subtask_type: 'chord', header: e.tasks, body: fold(rest, link), ...(e.options ? { options: e.options } : {}) }
        : { ...e, body: fold([e.body, ...rest].flatMap((x) => (x.subtask_type === 'chain' ? x.tasks : [x])), link) };
    const head = elements.slice(0, i);
    return head.length ? { subtask_type: 'chain', tasks: [...head, chord] } : chord;
  }
  const last = elements[elements.length - 1];
  if (elements.length > 1 && last?.subtask_type === 'group' && last.tasks.length === 0) {
    // An empty group after a step has no task to wait for that step: it becomes an empty chord
    // whose body (the identity task) runs, with [], once the step before succeeded, and is failed
    // with it otherwise, so the chain's result follows that step.
    const body: TaskSignatureJSON = link?.length ? { ...identity(), options: { link } } : identity();
    const chord: ChordJSON = { subtask_type: 'chord', header: [], body, ...(last.options ? { options: last.options } : {}) };
    return { subtask_type: 'chain', tasks: [...elements.slice(0, -1), chord] };
  }
  return elements.length === 1 ? (elements[0] as WorkflowJSON) : { subtask_type: 'chain', tasks: elements };
}

/**
 * Freeze a normalised workflow: every task, group and chord gets an id (kept when set), and the
 * task that completes each chord header member carries its membership (`chord`). `outer` is the
 * membership of the whole workflow in an enclosing chord. A group that must complete as one (a
 * header member ending in a group) becomes a chord with the built-in identity task as its body.
 */
export function freeze(w: WorkflowJSON, idFor: IdFor, path = 'w', outer?: ChordMembership): WorkflowJSON {
  if (isTaskSignatureJSON(w)) {
    const options: Opts = { ...w.options, taskId: w.options?.taskId ?? idFor(path) };
    if (options.link) options.link = options.link.map((l, i) => freeze(l, idFor, `${path}.link${i}`));
    if (options.linkError) options.linkError = options.linkError.map((l, i) => freeze(l, idFor, `${path}.err${i}`));
    const out: TaskSignatureJSON = { ...w, options };
    const chord = outer ?? w.chord;
    if (chord) out.chord = chord;
    return out;
  }
  switch (w.subtask_type) {
    case 'chain': {
      const n = w.tasks.length;
      return { ...w, tasks: w.tasks.map((t, i) => freeze(t, idFor, `${path}.${i}`, i === n - 1 ? outer : undefined)) };
    }
    case 'group': {
      const taskId = w.options?.taskId ?? idFor(`${path}.group`);
      if (outer) {
        // It must complete as one: join it and pass the list on.
        return freeze({ subtask_type: 'chord', header: w.tasks, body: identity(), options: { ...w.options, taskId } }, idFor, path, outer);
      }
      const g: GroupJSON = { ...w, options: { ...w.options, taskId }, tasks: w.tasks.map((t, i) => freeze(t, idFor, `${path}.${i}`)) };
      return g;
    }
    case 'chord': {
      const id = w.options?.taskId ?? idFor(`${path}.chord`);
      const body = freeze(w.body, idFor, `${path}.body`, outer);
      const size = w.header.length;
      const allowPartial = w.options?.allowPartial === true;
      const header = w.header.map((t, index) => freeze(t, idFor, `${path}.h${index}`, { id, index, size, body, allowPartial }));
      return { ...w, options: { ...w.options, taskId: id }, header, body };
    }
  }
}

/** Normalise and freeze. */
export function prepare(w: WorkflowJSON, idFor: IdFor): WorkflowJSON {
  return freeze(normalize(w), idFor);
}

/** One task message that starts (part of) a workflow. */
export interface PlannedTask {
  sig: TaskSignatureJSON;
  args: unknown[];
  embed: Embed;
  /** Group (or chord) id when the task is a group member. */
  group: string | null;
}

/**
 * The task messages that start a frozen workflow. `prepend` goes before each first task's own
 * arguments (the parent's result in a chain, `[taskId, error]` for an errback), except for
 * immutable signatures; `rest` is the remainder of an enclosing chain.
 */
export function planStart(w: WorkflowJSON, prepend: readonly unknown[] | null, rest: WorkflowJSON[] = [], group: string | null = null): PlannedTask[] {
  if (isTaskSignatureJSON(w)) {
    const own = w.args ?? [];
    const args = prepend && !w.immutable ? [...prepend, ...own] : own;
    return [
      {
        sig: w,
        args,
        group,
        embed: {
          chain: rest.length ? rest : null,
          callbacks: w.options?.link?.length ? w.options.link : null,
          errbacks: w.options?.linkError?.length ? w.options.linkError : null,
          chord: w.chord ?? null,
        },
      },
    ];
  }
  switch (w.subtask_type) {
    case 'chain':
      return planStart(w.tasks[0] as WorkflowJSON, prepend, [...w.tasks.slice(1), ...rest], group);
    case 'group':
      if (rest.length) return planStart(normalize({ subtask_type: 'chain', tasks: [w, ...rest] }), prepend, [], group);
      return w.tasks.flatMap((t) => planStart(t, prepend, [], w.options?.taskId ?? null));
    case 'chord':
      if (rest.length) return planStart(normalize({ subtask_type: 'chain', tasks: [w, ...rest] }), prepend, [], group);
      // An empty header joins at once: the body runs with [].
      if (w.header.length === 0) return planStart(w.body, [[]], [], group);
      return w.header.flatMap((t) => planStart(t, prepend, [], w.options?.taskId ?? null));
  }
}

/** Ids of every task in the workflow (chord bodies and header members included). */
export function taskIds(w: WorkflowJSON, out: string[] = []): string[] {
  if (isTaskSignatureJSON(w)) {
    if (w.options?.taskId) out.push(w.options.taskId);
  } else if (w.subtask_type === 'chord') {
    for (const t of w.header) taskIds(t, out);
    taskIds(w.body, out);
  } else for (const t of w.tasks) taskIds(t, out);
  return out;
}

/**
 * Ids of the tasks whose results are final in the workflow (what a client waits on): the last task
 * of a chain, every group member's final tasks, a chord's body; not chord header members.
 */
export function finalTaskIds(w: WorkflowJSON, out: string[] = []): string[] {
  if (isTaskSignatureJSON(w)) {
    if (!w.chord && w.options?.taskId) out.push(w.options.taskId);
  } else if (w.subtask_type === 'chain') {
    const last = w.tasks[w.tasks.length - 1];
    if (last) finalTaskIds(last, out);
  } else if (w.subtask_type === 'group') for (const t of w.tasks) finalTaskIds(t, out);
  else finalTaskIds(w.body, out);
  return out;
}

/** Chord ids in the workflow. */
function chordIds(w: WorkflowJSON, out: Set<string>): Set<string> {
  if (isTaskSignatureJSON(w)) return out;
  if (w.subtask_type === 'chord') {
    if (w.options?.taskId) out.add(w.options.taskId);
    for (const t of w.header) chordIds(t, out);
    chordIds(w.body, out);
  } else for (const t of w.tasks) chordIds(t, out);
  return out;
}

/** A chord membership and the task that carries it. */
export interface MemberOf {
  membership: ChordMembership;
  taskId: string;
}

function memberships(w: WorkflowJSON, out: MemberOf[]): MemberOf[] {
  if (isTaskSignatureJSON(w)) {
    if (w.chord) out.push({ membership: w.chord, taskId: w.options?.taskId ?? '' });
  } else if (w.subtask_type === 'chord') {
    for (const t of w.header) memberships(t, out);
    memberships(w.body, out);
  } else for (const t of w.tasks) memberships(t, out);
  return out;
}

/**
 * What failing a workflow that will never run means: the ids to mark failed, and the memberships
 * in chords outside it that must hear of the failure (inner chords fail with it).
 */
export function failurePlan(ws: readonly WorkflowJSON[]): { ids: string[]; joins: MemberOf[] } {
  const inner = new Set<string>();
  const ids: string[] = [];
  const all: MemberOf[] = [];
  for (const w of ws) {
    chordIds(w, inner);
    taskIds(w, ids);
    memberships(w, all);
  }
  const seen = new Set<string>();
  const joins = all.filter(({ membership: m }) => !inner.has(m.id) && !seen.has(`${m.id}#${m.index}`) && (seen.add(`${m.id}#${m.index}`), true));
  return { ids, joins };
}

/** A chain of `tasks` (a single element stays itself). */
export function chainOf(tasks: WorkflowJSON[]): WorkflowJSON {
  return tasks.length === 1 ? (tasks[0] as WorkflowJSON) : ({ subtask_type: 'chain', tasks } satisfies ChainJSON);
}
