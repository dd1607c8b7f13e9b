/**
 * In-process diagnostics for a bench role: a V8 CPU profile and a sampling heap profile that keeps
 * the samples of objects already collected (so it shows allocation churn, not only what is live),
 * through `node:inspector`. `stop()` writes `<name>.cpuprofile` / `<name>.heapprofile` (open them in
 * Chrome DevTools) and returns small summaries: self and inclusive share per function and per area
 * (our `src/`, `@nats-io`, `node:` internals, …).
 * @module
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

interface Frame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface CpuNode {
  id: number;
  callFrame: Frame;
  hitCount?: number;
  children?: number[];
}
interface HeapNode {
  callFrame: Frame;
  selfSize: number;
  children: HeapNode[];
}

/** Where a frame's code lives, coarsely. */
function area(f: Frame): string {
  const u = f.url;
  if (u === '') return f.functionName === '(garbage collector)' ? '(gc)' : f.functionName.startsWith('(') ? f.functionName : '(native)';
  if (u.startsWith('node:')) return 'node: internals';
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = u.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? u);
  }
  const src = u.indexOf('/src/');
  if (src >= 0) return `src/${u.slice(src + 5).split('/').slice(0, -1).join('/') || '.'}`;
  const bench = u.indexOf('/bench/');
  if (bench >= 0) return 'bench';
  return u;
}

function key(f: Frame): string {
  const u = f.url;
  const short = u.includes('node_modules/') ? u.slice(u.lastIndexOf('node_modules/') + 13) : u.includes('/src/') ? u.slice(u.indexOf('/src/') + 1) : u.includes('/bench/') ? u.slice(u.indexOf('/bench/') + 1) : u;
  return `${f.functionName || '(anonymous)'} ${short}:${f.lineNumber + 1}`;
}

type Shares = Array<{ name: string; pct: number }>;
function top(m: Map<string, number>, total: number, n: number): Shares {
  return [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, v]) => ({ name, pct: Math.round((v / total) * 1000) / 10 }));
}

export interface ProfileSummary {
  cpu: { samples: number; byArea: Shares; selfTop: Shares; inclusiveTop: Shares };
  alloc: { sampledMb: number; byArea: Shares; selfTop: Shares; inclusiveTop: Shares };
}

function summarizeCpu(p: { nodes: CpuNode[]; samples?: number[] }): ProfileSummary['cpu'] {
  const byId = new Map<number, CpuNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) byId.set(n.id, n);
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const samples = p.samples ?? [];
  const self = new Map<string, number>();
  const areas = new Map<string, number>();
  const incl = new Map<string, number>();
  let counted = 0;
  for (const id of samples) {
    const leaf = byId.get(id);
    if (!leaf || leaf.callFrame.functionName === '(idle)' || leaf.callFrame.functionName === '(program)') continue;
    counted++;
    const k = key(leaf.callFrame);
    self.set(k, (self.get(k) ?? 0) + 1);
    const a = area(leaf.callFrame);
    areas.set(a, (areas.get(a) ?? 0) + 1);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)?.callFrame;
      if (!f || f.functionName === '(root)') continue;
      const kk = key(f);
      if (seen.has(kk)) continue;
      seen.add(kk);
      incl.set(kk, (incl.get(kk) ?? 0) + 1);
    }
  }
  return { samples: counted, byArea: top(areas, counted, 12), selfTop: top(self, counted, 25), inclusiveTop: top(incl, counted, 40) };
}

function summarizeHeap(head: HeapNode): ProfileSummary['alloc'] {
  const self = new Map<string, number>();
  const areas = new Map<string, number>();
  const incl = new Map<string, number>();
  let total = 0;
  const walk = (n: HeapNode, path: string[]) => {
    const k = key(n.callFrame);
    const onPath = n.callFrame.functionName === '(root)' || path.includes(k) ? path : [...path, k];
    if (n.selfSize > 0) {
      total += n.selfSize;
      self.set(k, (self.get(k) ?? 0) + n.selfSize);
      const a = area(n.callFrame);
      areas.set(a, (areas.get(a) ?? 0) + n.selfSize);
      for (const p of onPath) incl.set(p, (incl.get(p) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, onPath);
  };
  walk(head, []);
  return { sampledMb: Math.round((total / 1024 ** 2) * 10) / 10, byArea: top(areas, total, 12), selfTop: top(self, total, 25), inclusiveTop: top(incl, total, 40) };
}

/** Start both profilers; `stop(dir, name)` ends them, writes the files and returns the summaries. */
export async function startProfiling(): Promise<{ stop(dir: string, name: string): Promise<ProfileSummary> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('Profiler.start');
  await session.post('HeapProfiler.enable');
  // The two include* flags keep samples of objects the GC already freed (allocation churn).
  // BENCH_HEAP_PROMOTED=1 leaves out what died young: the profile then shows what survived the
  // scavenges (promoted to the old generation, or still alive), the source of long GC pauses.
  const promotedOnly = process.env.BENCH_HEAP_PROMOTED === '1';
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 16_384,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: !promotedOnly,
  } as { samplingInterval: number });
  return {
    async stop(dir, name) {
      const { profile: cpu } = await session.post('Profiler.stop');
      const { profile: heap } = await session.post('HeapProfiler.stopSampling');
      session.disconnect();
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, `${name}.cpuprofile`), JSON.stringify(cpu));
      await writeFile(join(dir, `${name}.heapprofile`), JSON.stringify(heap));
      return { cpu: summarizeCpu(cpu as unknown as { nodes: CpuNode[]; samples?: number[] }), alloc: summarizeHeap(heap.head as unknown as HeapNode) };
    },
  };
}
