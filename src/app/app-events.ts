import { type WorkerInfo, type WorkerRecord, workerInfo } from '../actors/worker-registry.ts';
import { type CeleriacEvent, type EventType, decodeEventBatch, eventSubject } from '../execution/event-emitter.ts';
import type { KeyValueStore, Transport } from '../transport/transport.ts';

/** Options of `app.events.subscribe`. */
export interface SubscribeEventsOptions {
  /** Only these types (the subscription narrows to their subjects). @defaultValue every event */
  types?: readonly EventType[];
}

/** Listen to an app's events; resolves with an unsubscribe function once listening. */
export async function subscribeEvents(transport: Transport, app: string, listener: (e: CeleriacEvent) => void, options: SubscribeEventsOptions = {}): Promise<() => void> {
  await transport.connect();
  const only = options.types ? new Set<string>(options.types) : null;
  const dec = new TextDecoder();
  const subjects = only ? [...new Set([...only].map((type) => eventSubject(app, type as EventType)))] : [`${app}.events.>`];
  const offs = subjects.map((subject) =>
    transport.listen(subject, (h, body) => {
      let list: CeleriacEvent[];
      try {
        list = decodeEventBatch(JSON.parse(dec.decode(body)), h('worker') ?? '');
      } catch {
        return; // not an event batch
      }
      for (const e of list) if (!only || only.has(e.type)) listener(e);
    }),
  );
  return () => {
    for (const off of offs) off();
  };
}

/** The entries of the worker registry, with `online` computed now, sorted by name. */
export async function listWorkers(kv: KeyValueStore): Promise<WorkerInfo[]> {
  const now = Date.now();
  const dec = new TextDecoder();
  const out: WorkerInfo[] = [];
  for (const e of await kv.entries(10_000)) {
    try {
      out.push(workerInfo(JSON.parse(dec.decode(e.value)) as WorkerRecord, now));
    } catch {
      /* not a registry entry */
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
