/**
 * The orders API as a service of its own, next to a `celeriac worker` (README.md): it starts
 * `@opentelemetry/sdk-node` when the OTEL_* variables ask for traces, as the worker does, and
 * listens on PORT (3000). It needs a broker the worker shares: CELERIAC_BROKER_URL=nats://...
 */
import type { AddressInfo } from 'node:net';
import { tracesRequested } from './thread-tracing.ts';

let stopTracing: () => Promise<void> = async () => undefined;
if (tracesRequested(process.env)) {
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK(process.env.OTEL_SERVICE_NAME ? {} : { serviceName: 'orders-api' });
  sdk.start();
  stopTracing = () => sdk.shutdown();
}
const { ordersApi } = await import('./server.ts');
const { app } = await import('./tasks.ts');
if (app.options.broker.startsWith('memory:')) {
  process.stderr.write('serve.ts sends tasks to a worker in another process: set CELERIAC_BROKER_URL=nats://...\n');
  process.exit(1);
}

const server = ordersApi().listen(Number(process.env.PORT ?? 3000), () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`orders API on http://127.0.0.1:${port}, broker ${app.options.broker}, tracing ${tracesRequested(process.env) ? 'on' : 'off'}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close();
    // Flush the last spans before exiting.
    void app.close().then(stopTracing).finally(() => process.exit(0));
  });
}
