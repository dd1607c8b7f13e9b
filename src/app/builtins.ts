import { InvalidArgumentError, NotRegisteredError } from '../errors.ts';
import { IDENTITY_TASK } from '../canvas/freeze.ts';
import { resolveRetryOptions } from '../execution/retry-policy.ts';
import { type TaskContext, type TaskDefinition, type TaskFn, findTaskDefinition, registerTaskDefinition } from '../execution/task-definition.ts';

/** Built-in task that calls a task once per item: `celeriac.map(items, taskName)`. */
export const MAP_TASK = 'celeriac.map';
/** Built-in task that calls a task once per argument list: `celeriac.starmap(argsList, taskName)`. */
export const STARMAP_TASK = 'celeriac.starmap';
export { IDENTITY_TASK };

/**
 * The target and the items of a map/starmap call: the task name is the last argument, the items
 * the one before it (in a chain, a `task.map()` without items maps over the parent's result).
 */
function target(appName: string, args: readonly unknown[], what: string): { def: TaskDefinition; items: unknown[] } {
  const name = args[args.length - 1];
  const items = args[args.length - 2];
  if (typeof name !== 'string') throw new InvalidArgumentError(`${what}: the last argument must be the task name, got ${JSON.stringify(name)}`);
  const def = findTaskDefinition(appName, name);
  if (!def) throw new NotRegisteredError(name);
  if (!Array.isArray(items)) throw new InvalidArgumentError(`${what}(${name}): the items must be an array, got ${typeof items}`);
  return { def, items };
}

function builtin(name: string, fn: TaskFn<never[], unknown>, kindFor?: (args: readonly unknown[]) => 'io' | 'cpu'): TaskDefinition {
  return {
    name,
    fn,
    kind: 'io',
    ...(kindFor ? { kindFor } : {}),
    queue: '',
    ignoreResult: false,
    retry: resolveRetryOptions(undefined, `built-in task ${name}`),
    timeLimitMs: null,
    softTimeLimitMs: null,
    deadLetter: true,
  };
}

/**
 * Register the built-in tasks of an app (every process and CPU thread that creates the app has
 * them): `celeriac.identity` (the body a group gets when it must complete as one), `celeriac.map`
 * and `celeriac.starmap` (run where the target task runs: a CPU task's map runs in a thread).
 */
export function registerBuiltins(appName: string): void {
  const kindOfTarget = (args: readonly unknown[]): 'io' | 'cpu' => {
    const name = args[args.length - 1];
    return (typeof name === 'string' && findTaskDefinition(appName, name)?.kind) || 'io';
  };
  registerTaskDefinition(appName, builtin(IDENTITY_TASK, ((_ctx: TaskContext, value: unknown) => value) as unknown as TaskFn<never[], unknown>));
  registerTaskDefinition(
    appName,
    builtin(
      MAP_TASK,
      (async (ctx: TaskContext, ...args: unknown[]) => {
        const { def, items } = target(appName, args, MAP_TASK);
        const fn = def.fn as unknown as (c: TaskContext, ...a: unknown[]) => unknown;
        const out: unknown[] = [];
        for (const item of items) out.push(await fn(ctx, item));
        return out;
      }) as unknown as TaskFn<never[], unknown>,
      kindOfTarget,
    ),
  );
  registerTaskDefinition(
    appName,
    builtin(
      STARMAP_TASK,
      (async (ctx: TaskContext, ...args: unknown[]) => {
        const { def, items } = target(appName, args, STARMAP_TASK);
        const fn = def.fn as unknown as (c: TaskContext, ...a: unknown[]) => unknown;
        const out: unknown[] = [];
        for (const [i, item] of items.entries()) {
          if (!Array.isArray(item)) throw new InvalidArgumentError(`${STARMAP_TASK}(${def.name}): item ${i} must be an argument array`);
          out.push(await fn(ctx, ...item));
        }
        return out;
      }) as unknown as TaskFn<never[], unknown>,
      kindOfTarget,
    ),
  );
}
