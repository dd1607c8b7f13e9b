/**
 * Summaries (median, min–max over repeats), the ratio checks against the targets of the
 * performance notes, and the console table.
 * @module
 */
import { median } from './measure.ts';

/** One probe run: `value` is the headline rate (msgs/s or tasks/s). */
export interface ProbeRun {
  probe: string;
  repeat: number;
  ok: boolean;
  value?: number;
  p50?: number;
  p99?: number;
  /** CPU-µs per task summed over the probe's processes (producer, worker, nats-server). */
  cpuUs?: number;
  detail?: Record<string, unknown>;
  error?: string;
}

export interface ProbeInfo {
  id: string;
  label: string;
  unit: string;
}

export interface ProbeSummary extends ProbeInfo {
  runs: number[];
  median: number | null;
  min: number | null;
  max: number | null;
  p50: number | null;
  p99: number | null;
  /** Median CPU-µs per task over the runs that measured it. */
  cpuUs: number | null;
  failures: number;
}

export function summarize(probes: readonly ProbeInfo[], runs: readonly ProbeRun[]): ProbeSummary[] {
  return probes.map((p) => {
    const mine = runs.filter((r) => r.probe === p.id);
    const ok = mine.filter((r) => r.ok && typeof r.value === 'number');
    const values = ok.map((r) => r.value as number);
    const p50s = ok.flatMap((r) => (typeof r.p50 === 'number' ? [r.p50] : []));
    const p99s = ok.flatMap((r) => (typeof r.p99 === 'number' ? [r.p99] : []));
    const cpus = ok.flatMap((r) => (typeof r.cpuUs === 'number' ? [r.cpuUs] : []));
    return {
      ...p,
      runs: values,
      median: values.length ? median(values) : null,
      min: values.length ? Math.min(...values) : null,
      max: values.length ? Math.max(...values) : null,
      p50: p50s.length ? median(p50s) : null,
      p99: p99s.length ? median(p99s) : null,
      cpuUs: cpus.length ? median(cpus) : null,
      failures: mine.length - ok.length,
    };
  });
}

/** A checked ratio or latency bound. */
export interface Check {
  id: string;
  label: string;
  value: number | null;
  format: 'percent' | 'times' | 'ms' | 'us';
  /** Human-readable goal, e.g. `≥ 40 % (floor), ≥ 75 % (target)`. */
  goal: string;
  /** Each bound: name and whether it is met (null when the value is missing). */
  verdicts: Array<{ name: string; bound: number; higherIsBetter: boolean; met: boolean | null }>;
}

function verdict(value: number | null, name: string, bound: number, higherIsBetter = true): Check['verdicts'][number] {
  return { name, bound, higherIsBetter, met: value === null ? null : higherIsBetter ? value >= bound : value <= bound };
}

export function computeChecks(s: readonly ProbeSummary[]): Check[] {
  const m = (id: string) => s.find((p) => p.id === id);
  const med = (id: string) => m(id)?.median ?? null;
  const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);
  const bullRt = [med('bullmq-rt-c64'), med('bullmq-rt-c256')].filter((v): v is number => v !== null);
  const bestBullRt = bullRt.length ? Math.max(...bullRt) : null;
  const e2eRaw = ratio(med('celeriac-e2e'), med('raw-consume-ack'));
  const e2eBull = ratio(med('celeriac-e2e'), med('bullmq-e2e'));
  const e2eRawE2e = ratio(med('celeriac-e2e'), med('raw-e2e'));
  const e2eRawMsgId = ratio(med('celeriac-e2e'), med('raw-e2e-msgid'));
  const drainRaw = ratio(med('celeriac-drain'), med('raw-consume-ack'));
  const e2eCelery = ratio(med('celeriac-e2e'), med('celery-e2e'));
  const rtCelery = ratio(med('celeriac-rt'), med('celery-rt'));
  const rtBull = ratio(med('celeriac-rt'), bestBullRt);
  const enqRaw = ratio(med('celeriac-enqueue-bulk'), med('raw-lean-publish'));
  const cpuUs = m('celeriac-e2e')?.cpuUs ?? null;
  const trace100 = ratio(med('celeriac-e2e-trace100'), med('celeriac-e2e'));
  const trace1 = ratio(med('celeriac-e2e-trace1'), med('celeriac-e2e'));
  const p50 = m('celeriac-rt')?.p50 ?? null;
  const p99 = m('celeriac-rt')?.p99 ?? null;
  return [
    {
      id: 'e2e_vs_raw_consume_ack',
      label: 'Celeriac e2e / raw consume+ack',
      value: e2eRaw,
      format: 'percent',
      goal: '≥ 0.40 (issue floor), ≥ 0.75 (PRODUCT target)',
      verdicts: [verdict(e2eRaw, 'floor', 0.4), verdict(e2eRaw, 'target', 0.75)],
    },
    {
      id: 'e2e_vs_raw_e2e',
      label: 'Celeriac e2e / raw e2e (publish and consume at once, same window)',
      value: e2eRawE2e,
      format: 'percent',
      goal: 'recorded (the like-for-like ceiling on this box)',
      verdicts: [],
    },
    {
      id: 'e2e_vs_raw_e2e_msgid',
      label: 'Celeriac e2e / raw e2e with a Nats-Msg-Id per message (as the protocol has)',
      value: e2eRawMsgId,
      format: 'percent',
      goal: 'recorded',
      verdicts: [],
    },
    {
      id: 'drain_vs_raw_consume_ack',
      label: 'Celeriac drain / raw consume+ack (both from a filled stream)',
      value: drainRaw,
      format: 'percent',
      goal: 'recorded',
      verdicts: [],
    },
    {
      id: 'e2e_vs_bullmq_e2e',
      label: 'Celeriac e2e / BullMQ e2e',
      value: e2eBull,
      format: 'times',
      goal: '≥ 5×',
      verdicts: [verdict(e2eBull, 'target', 5)],
    },
    { id: 'e2e_vs_celery_e2e', label: 'Celeriac e2e / Celery e2e', value: e2eCelery, format: 'times', goal: 'recorded', verdicts: [] },
    { id: 'rt_vs_celery_rt', label: 'Celeriac round trip / Celery round trip', value: rtCelery, format: 'times', goal: 'recorded', verdicts: [] },
    {
      id: 'rt_vs_bullmq_rt',
      label: 'Celeriac round trip / best BullMQ round trip',
      value: rtBull,
      format: 'times',
      goal: '≥ 5× (issue 8)',
      verdicts: [verdict(rtBull, 'target', 5)],
    },
    {
      id: 'enqueue_vs_raw_lean_publish',
      label: 'Celeriac bulk enqueue (delayMany) / raw lean publish',
      value: enqRaw,
      format: 'percent',
      goal: '≥ 0.50',
      verdicts: [verdict(enqRaw, 'target', 0.5)],
    },
    {
      id: 'e2e_tracing_100',
      label: 'Celeriac e2e with an SDK sampling 100 % / without',
      value: trace100,
      format: 'percent',
      goal: '≥ 0.90 (issue 7: cost ≤ 10 %)',
      verdicts: [verdict(trace100, 'target', 0.9)],
    },
    {
      id: 'e2e_tracing_1',
      label: 'Celeriac e2e with an SDK sampling 1 % / without',
      value: trace1,
      format: 'percent',
      goal: 'recorded',
      verdicts: [],
    },
    { id: 'rt_p50_ms', label: 'Celeriac round trip p50 (ms), 64 in flight', value: p50, format: 'ms', goal: '≤ 5 ms', verdicts: [verdict(p50, 'target', 5, false)] },
    { id: 'rt_p99_ms', label: 'Celeriac round trip p99 (ms), 64 in flight', value: p99, format: 'ms', goal: '≤ 20 ms', verdicts: [verdict(p99, 'target', 20, false)] },
    { id: 'e2e_cpu_us', label: 'CPU-µs per noop task (producer + worker + nats-server)', value: cpuUs, format: 'us', goal: '≤ 70 µs', verdicts: [verdict(cpuUs, 'target', 70, false)] },
  ];
}

const int = (v: number | null) => (v === null ? '—' : Math.round(v).toLocaleString('en-US'));
const ms = (v: number | null) => (v === null ? '' : v.toFixed(2));

/** A check's value as shown: `62 %`, `5.10×` or `4.20 ms`. */
export function formatCheck(c: Check): string {
  if (c.value === null) return '—';
  if (c.format === 'percent') return `${(c.value * 100).toFixed(0)} %`;
  if (c.format === 'times') return `${c.value.toFixed(2)}×`;
  if (c.format === 'us') return `${c.value.toFixed(1)} µs`;
  return `${c.value.toFixed(2)} ms`;
}

/** Rows as aligned columns (first column left-aligned, the others right-aligned). */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')).join('\n');
}

export function formatReport(s: readonly ProbeSummary[], checks: readonly Check[]): string {
  const rows = [['probe', 'median', 'min', 'max', 'unit', 'p50 ms', 'p99 ms', 'CPU-µs/task', 'failed']];
  for (const p of s) {
    rows.push([p.label, int(p.median), int(p.min), int(p.max), p.unit, ms(p.p50), ms(p.p99), p.cpuUs === null ? '' : p.cpuUs.toFixed(1), p.failures ? String(p.failures) : '']);
  }
  const crow = [['check', 'value', 'goal', 'verdict']];
  for (const c of checks) {
    const v = formatCheck(c);
    const verdicts = c.verdicts.map((x) => `${x.name}: ${x.met === null ? 'n/a' : x.met ? 'met' : 'NOT met'}`).join(', ');
    crow.push([c.label, v, c.goal, verdicts]);
  }
  return `${table(rows)}\n\n${table(crow)}`;
}
