import { provisionApp } from '../app/provision-app.ts';
import { type ClientFlags, clientApp } from './call-command.ts';

/** Flags of `celeriac provision`. */
export interface ProvisionFlags extends ClientFlags {
  queues?: string;
  buckets?: string;
  json?: boolean;
}

/**
 * `celeriac provision [-A module] [-Q queues]`: create or update every stream, bucket and queue
 * consumer of the app with its options (run once as the admin NATS user). Resolves with the exit code.
 */
export async function runProvision(flags: ProvisionFlags): Promise<number> {
  // Provisioning is the one client command that applies the app's settings to what exists.
  const app = await clientApp(flags, { updateBrokerConfig: true });
  try {
    const queues = (flags.queues ?? app.options.defaultQueue)
      .split(',')
      .map((q) => q.trim())
      .filter(Boolean);
    const buckets = (flags.buckets ?? '')
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean);
    const r = await provisionApp(app, queues, buckets);
    if (flags.json) process.stdout.write(JSON.stringify({ app: app.name, replicas: app.options.streamReplicas, ...r }) + '\n');
    else {
      process.stdout.write(`app ${app.name}: ${r.streams.length} streams and buckets (replicas ${app.options.streamReplicas})\n`);
      for (const s of r.streams) process.stdout.write(`  stream   ${s}\n`);
      for (const c of r.consumers) process.stdout.write(`  consumer ${app.name}-tasks/${c}\n`);
    }
    return 0;
  } finally {
    await app.close();
  }
}
