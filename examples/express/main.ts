/**
 * The Express integration in one process: `npx tsx examples/express/main.ts` (embedded broker), or
 * with CELERIAC_BROKER_URL=nats://127.0.0.1:4222 on NATS JetStream. It starts a worker and the API on
 * a free port, then acts as the API's client: sends a report, follows its progress over SSE, reads
 * its state, asks about an id that is not a task, and leaves a stream early.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../src/index.ts';
import { runDemo } from '../http-shared/demo-client.ts';
import { app } from '../http-shared/tasks.ts';
import { reportsApi } from './server.ts';

const worker = app.worker({ concurrency: 4, logger: createLogger({ level: 'warn' }) });
await worker.start();
const server = reportsApi().listen(0, '127.0.0.1');
await once(server, 'listening');
process.stdout.write(`worker and API started on ${app.options.broker}\n`);
await runDemo(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);

server.close();
server.closeAllConnections(); // the keep-alive sockets fetch left open would hold the process for seconds
await worker.stop();
await app.close();
process.stdout.write('done\n');
