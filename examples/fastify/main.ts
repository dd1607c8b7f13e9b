/**
 * The Fastify integration in one process: `npx tsx examples/fastify/main.ts` (embedded broker), or
 * with CELERIAC_BROKER_URL=nats://127.0.0.1:4222 on NATS JetStream. It starts a worker and the API on
 * a free port, then acts as the API's client: sends a report, follows its progress over SSE, reads
 * its state, asks about an id that is not a task, and leaves a stream early.
 */
import { createLogger } from '../../src/index.ts';
import { runDemo } from '../http-shared/demo-client.ts';
import { app } from '../http-shared/tasks.ts';
import { reportsApi } from './server.ts';

const worker = app.worker({ concurrency: 4, logger: createLogger({ level: 'warn' }) });
await worker.start();
const api = reportsApi();
const base = await api.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`worker and API started on ${app.options.broker}\n`);
await runDemo(base);

api.server.closeAllConnections(); // the keep-alive sockets fetch left open would hold close() for seconds
await api.close();
await worker.stop();
await app.close();
process.stdout.write('done\n');
