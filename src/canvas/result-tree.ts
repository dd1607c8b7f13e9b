import { type WorkflowJSON, isTaskSignatureJSON } from '../protocol/workflow-json.ts';
import type { AsyncResult, ResultHandle } from '../results/async-result.ts';
import { GroupResult } from '../results/group-result.ts';

type Handle = AsyncResult | GroupResult;

interface Built {
  first: Handle;
  last: Handle;
}

/**
 * The result handles of a frozen workflow, linked as Celery links them: in a chain each step's
 * `parent` is the step before; a chord's body has the header's GroupResult as parent. `final` is
 * the handle whose value is the workflow's value; `tasks` every task's handle in workflow order.
 */
export function resultTree(w: WorkflowJSON, make: (id: string) => AsyncResult): { final: Handle; tasks: AsyncResult[] } {
  const tasks: AsyncResult[] = [];
  const build = (n: WorkflowJSON): Built => {
    if (isTaskSignatureJSON(n)) {
      const r = make(n.options?.taskId ?? '');
      tasks.push(r);
      return { first: r, last: r };
    }
    switch (n.subtask_type) {
      case 'chain': {
        let first: Handle | undefined;
        let prev: Handle | undefined;
        for (const t of n.tasks) {
          const b = build(t);
          if (prev) b.first.parent = prev as ResultHandle;
          first ??= b.first;
          prev = b.last;
        }
        return { first: first as Handle, last: prev as Handle };
      }
      case 'group': {
        const g = new GroupResult(n.options?.taskId ?? '', n.tasks.map((t) => build(t).last));
        return { first: g, last: g };
      }
      case 'chord': {
        const header = new GroupResult(n.options?.taskId ?? '', n.header.map((t) => build(t).last));
        const body = build(n.body);
        body.first.parent = header;
        return { first: header, last: body.last };
      }
    }
  };
  return { final: build(w).last, tasks };
}
