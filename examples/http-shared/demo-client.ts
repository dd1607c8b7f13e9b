/**
 * The client half of the HTTP examples' main.ts: sends a report, follows its progress over SSE,
 * reads its state, asks about an id that is not a task, and leaves a stream early, printing one
 * line per step.
 */
import { randomUUID } from 'node:crypto';
import { openStreams } from './reports.ts';

const say = (s: string) => process.stdout.write(s + '\n');
const line = (label: string, text: string) => say(`${label.padEnd(23)} -> ${text}`);

/** Read Server-Sent Events from a response: each `{ event, data }` as it arrives. */
async function* events(res: Response): AsyncGenerator<{ event: string; data: Record<string, unknown> }> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const field = (name: string) => block.split('\n').find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
      yield { event: field('event') ?? 'message', data: JSON.parse(field('data') ?? 'null') as Record<string, unknown> };
    }
  }
}

/** Run the demo against the API at `base` (`http://127.0.0.1:<port>`). */
export async function runDemo(base: string): Promise<void> {
  // 1. Send a report: 202, the id, and where to ask about it.
  const posted = await fetch(`${base}/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'sales', rows: 4 }) });
  const { taskId } = (await posted.json()) as { taskId: string };
  const location = posted.headers.get('location') ?? '';
  line('POST /tasks', `${posted.status} ${location}${location === `/tasks/${taskId}` ? '' : ` (body says ${taskId})`}`);

  // 2. Follow it: progress events, then the final state, then the server ends the stream.
  const seen: string[] = [];
  for await (const { event, data } of events(await fetch(`${base}${location}/events`))) {
    if (event === 'progress') {
      const p = data.progress as { done: number; total: number };
      seen.push(`${p.done}/${p.total}`);
    } else if (event !== 'pending' && event !== 'started') {
      seen.push(`${event} ${JSON.stringify(data.result ?? data.error)}`);
    }
  }
  line('SSE /tasks/:id/events', seen.join(', '));

  // 3. Its state, once finished; and an id this API never handed out.
  const status = (await (await fetch(`${base}${location}`)).json()) as { state: string; result: unknown };
  line('GET /tasks/:id', `${status.state} ${JSON.stringify(status.result)}`);
  const unknown = await fetch(`${base}/tasks/no-such-task`);
  line('GET /tasks/no-such-task', `${unknown.status} ${((await unknown.json()) as { error: string }).error}`);

  // 4. A client that leaves early: the server stops watching at once (this task is never sent, so
  //    no update would ever come to end the stream otherwise).
  const leaving = new AbortController();
  const stream = events(await fetch(`${base}/tasks/${randomUUID()}/events`, { signal: leaving.signal }));
  const first = await stream.next();
  leaving.abort();
  await stream.return(undefined).catch(() => undefined);
  const deadline = Date.now() + 5000;
  while (openStreams() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  line('SSE client left', `after "${first.value?.event}", ${openStreams()} streams open`);
}
