import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { derivedId, failurePlan, freeze, normalize, planStart, prepare, taskIds } from '../../../src/canvas/freeze.ts';
import type { ChordJSON, TaskSignatureJSON, WorkflowJSON } from '../../../src/protocol/workflow-json.ts';

const t = (task: string, ...args: unknown[]): TaskSignatureJSON => ({ task, args });
let n = 0;
const seq = () => `id${n++}`;

describe('normalize', () => {
  test('a group followed by more chain steps becomes a chord whose body is the rest', () => {
    const w = normalize({ subtask_type: 'chain', tasks: [t('a'), { subtask_type: 'group', tasks: [t('b'), t('c')] }, t('d'), t('e')] });
    assert.deepEqual(w, {
      subtask_type: 'chain',
      tasks: [
        t('a'),
        { subtask_type: 'chord', header: [t('b'), t('c')], body: { subtask_type: 'chain', tasks: [t('d'), t('e')] } },
      ],
    });
  });

  test('nested chains and nested groups are flattened; a chord in the middle of a chain takes the rest into its body', () => {
    const w = normalize({
      subtask_type: 'chain',
      tasks: [{ subtask_type: 'chain', tasks: [t('a'), t('b')] }, { subtask_type: 'chord', header: [t('h')], body: t('x') }, t('y')],
    });
    assert.deepEqual(w, {
      subtask_type: 'chain',
      tasks: [t('a'), t('b'), { subtask_type: 'chord', header: [t('h')], body: { subtask_type: 'chain', tasks: [t('x'), t('y')] } }],
    });
    const g = normalize({ subtask_type: 'group', tasks: [{ subtask_type: 'group', tasks: [t('a'), t('b')] }, t('c')] });
    assert.deepEqual(g, { subtask_type: 'group', tasks: [t('a'), t('b'), t('c')] });
  });

  test("a chain's options reach its tasks: countdown the first, link the last, linkError all; a task's own win", () => {
    const w = normalize({
      subtask_type: 'chain',
      tasks: [t('a'), { task: 'b', args: [], options: { queue: 'own' } }],
      options: { queue: 'q', countdown: 5000, link: [t('done')], linkError: [t('err')] },
    }) as { tasks: TaskSignatureJSON[] };
    assert.deepEqual(w.tasks[0]?.options, { queue: 'q', countdown: 5000, linkError: [t('err')] });
    assert.deepEqual(w.tasks[1]?.options, { queue: 'own', link: [t('done')], linkError: [t('err')] });
  });
});

describe('freeze', () => {
  test('ids for every task, group and chord; each header member carries its membership with the frozen body', () => {
    const f = freeze(normalize({ subtask_type: 'chord', header: [t('a'), t('b')], body: t('s') }), seq) as ChordJSON;
    const chordId = f.options?.taskId as string;
    assert.ok(chordId);
    const [a, b] = f.header as TaskSignatureJSON[];
    assert.deepEqual(a?.chord, { id: chordId, index: 0, size: 2, body: f.body, allowPartial: false });
    assert.equal(b?.chord?.index, 1);
    assert.ok((f.body as TaskSignatureJSON).options?.taskId);
    assert.equal(taskIds(f).length, 3);
  });

  test('a header member that ends in a group completes as one: the group is joined by the identity task', () => {
    const f = freeze(
      normalize({ subtask_type: 'chord', header: [{ subtask_type: 'chain', tasks: [t('a'), { subtask_type: 'group', tasks: [t('b'), t('c')] }] }], body: t('s') }),
      seq,
    ) as ChordJSON;
    const member = f.header[0] as { tasks: WorkflowJSON[] };
    const inner = member.tasks[1] as ChordJSON;
    assert.equal(inner.subtask_type, 'chord');
    assert.equal((inner.body as TaskSignatureJSON).task, 'celeriac.identity');
    assert.equal((inner.body as TaskSignatureJSON).chord?.id, f.options?.taskId, 'the identity body completes the outer member');
  });

  test('ids derived from a seed are the same every time (a redelivered task publishes the same messages)', () => {
    const w: WorkflowJSON = { subtask_type: 'chain', tasks: [t('a'), { subtask_type: 'group', tasks: [t('b'), t('c')] }, t('d')] };
    const one = prepare(w, (p) => derivedId('task-1', p));
    const two = prepare(w, (p) => derivedId('task-1', p));
    assert.deepEqual(one, two);
    assert.notDeepEqual(taskIds(prepare(w, (p) => derivedId('task-2', p))), taskIds(one));
    assert.match(derivedId('x', 'y'), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test('ids already set are kept', () => {
    const f = prepare({ task: 'a', options: { taskId: 'mine' } }, seq);
    assert.deepEqual(taskIds(f), ['mine']);
  });
});

describe('planStart', () => {
  test('a chain publishes its first task, with the rest in embed.chain and the parent result prepended', () => {
    const f = prepare({ subtask_type: 'chain', tasks: [t('a', 1), t('b', 2), t('c')] }, seq);
    const [p, ...more] = planStart(f, [99]);
    assert.equal(more.length, 0);
    assert.equal(p?.sig.task, 'a');
    assert.deepEqual(p?.args, [99, 1]);
    assert.deepEqual(
      p?.embed.chain?.map((x) => (x as TaskSignatureJSON).task),
      ['b', 'c'],
    );
  });

  test('an immutable signature does not get the parent result; a group publishes each member with its group id', () => {
    assert.deepEqual(planStart(prepare({ task: 'a', args: [1], immutable: true }, seq), [99])[0]?.args, [1]);
    const g = prepare({ subtask_type: 'group', tasks: [t('a'), t('b')] }, seq);
    const ps = planStart(g, null);
    assert.equal(ps.length, 2);
    assert.ok(ps.every((p) => p.group === g.options?.taskId));
  });

  test('a chord with an empty header runs its body at once with []', () => {
    const ps = planStart(prepare({ subtask_type: 'chord', header: [], body: t('s') }, seq), null);
    assert.equal(ps.length, 1);
    assert.deepEqual(ps[0]?.args, [[]]);
  });
});

describe('failurePlan', () => {
  test('every task id fails; only memberships in chords outside the failed part are reported', () => {
    const f = prepare({ subtask_type: 'chord', header: [{ subtask_type: 'chain', tasks: [t('a'), t('b')] }, t('c')], body: t('s') }, seq) as ChordJSON;
    // The rest of a header member's chain after "a" failed: b, which completes member 0.
    const rest = (f.header[0] as { tasks: WorkflowJSON[] }).tasks.slice(1);
    const plan = failurePlan(rest);
    assert.equal(plan.ids.length, 1);
    assert.equal(plan.joins.length, 1);
    assert.equal(plan.joins[0]?.membership.index, 0);
    // Failing the whole chord: its own members' joins are internal.
    assert.equal(failurePlan([f]).joins.length, 0);
    assert.equal(failurePlan([f]).ids.length, 4);
  });
});

describe('a chain\'s taskId', () => {
  const chainWith = (taskId: string, ...tasks: WorkflowJSON[]): WorkflowJSON => ({ subtask_type: 'chain', tasks, options: { taskId } });
  const ids = (w: WorkflowJSON) => taskIds(prepare(w, seq));

  test('goes to the chain\'s last task (the id its result is read by)', () => {
    assert.equal(ids(chainWith('order-42', t('a'), t('b'))).at(-1), 'order-42');
    assert.equal(ids(chainWith('order-42', t('a'), t('b'))).length, 2);
  });

  test('goes to the group a chain ends with, and to the body of a chain that ends in a chord', () => {
    const g = prepare(chainWith('g-1', t('a'), { subtask_type: 'group', tasks: [t('b'), t('c')] }), seq);
    assert.equal(g.subtask_type === 'chain' && g.tasks[1]?.options?.taskId, 'g-1');
    const c = prepare(chainWith('c-1', t('a'), { subtask_type: 'group', tasks: [t('b'), t('c')] }, t('d')), seq);
    assert.equal(ids(c).at(-1), 'c-1');
    assert.notEqual(c.subtask_type === 'chain' && c.tasks[1]?.options?.taskId, 'c-1');
  });

  test('conflicting with the last task\'s own id is an InvalidArgumentError', () => {
    assert.throws(() => prepare(chainWith('x', t('a'), { task: 'b', options: { taskId: 'y' } }), seq), /last step, which has taskId "y" already/);
  });
});

test('an empty group at the end of a chain becomes an empty chord whose identity body runs after the step before', () => {
  const w = normalize({ subtask_type: 'chain', tasks: [t('a'), { subtask_type: 'group', tasks: [] }] });
  assert.deepEqual(w, { subtask_type: 'chain', tasks: [t('a'), { subtask_type: 'chord', header: [], body: { task: 'celeriac.identity', args: [], immutable: false } }] });
  // Alone, an empty group stays a group (its result is [] at once).
  assert.deepEqual(normalize({ subtask_type: 'group', tasks: [] }), { subtask_type: 'group', tasks: [] });
});

test("the chain's link goes on the identity body of an empty group it ends with (the group has no member to carry it)", () => {
  const w = normalize({ subtask_type: 'chain', tasks: [t('a'), { subtask_type: 'group', tasks: [] }], options: { link: [t('done')] } });
  assert.deepEqual(w, {
    subtask_type: 'chain',
    tasks: [t('a'), { subtask_type: 'chord', header: [], body: { task: 'celeriac.identity', args: [], immutable: false, options: { link: [t('done')] } } }],
  });
});
