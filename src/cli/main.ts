import { Command, CommanderError } from 'commander';
import { isCeleriacError, isInvalidArgumentError } from '../errors.ts';
import { runProvision } from './provision-command.ts';
import { runCall, runResult } from './call-command.ts';
import { runBeat, runInspectScheduled } from './beat-command.ts';
import { runDlq, runRateLimit, runRevoke } from './dlq-command.ts';
import { runEvents, runEventsSwitch, runInspectWorkers } from './events-command.ts';
import { packageVersion } from './version.ts';
import { runWorker } from './worker-command.ts';
import { runControl, runInspect, runPurge, runStatus } from './control-command.ts';
import { runDashboard } from './dashboard-command.ts';
import { runKeysGenerate } from './keys-command.ts';
import { isCliError } from './flags.ts';

/** Build the `celeriac` command line. */
export function buildCli(): Command {
  const program = new Command('celeriac').description('Distributed task runtime for TypeScript on NATS JetStream').version(packageVersion());
  // Usage errors are thrown (main() exits 2) and printed as `celeriac: <message>`. Set before the
  // subcommands are added: they inherit both settings.
  program.exitOverride().configureOutput({ outputError: (str, write) => write(`celeriac: ${str.replace(/^error: /, '')}`) });
  program
    .command('worker')
    .description('start a worker node that runs the tasks of an app')
    .requiredOption('-A, --app <module>', 'module that exports the app (default export or "app")')
    .option('-b, --broker <url>', 'broker URL (overrides CELERIAC_BROKER_URL and the app)')
    .option('-Q, --queues <list>', 'comma-separated queues to consume (default: the app default queue)')
    .option('-c, --concurrency <n>', 'tasks in flight at once (async slots; also the prefetch bound)', undefined)
    .option('--cpu-threads <n>', 'threads of the CPU pool for kind "cpu" tasks (default: cores)')
    .option('--cpu-start <when>', 'start the CPU threads "lazy" (with the first cpu task) or "eager" (with the worker)', 'lazy')
    .option('-n, --hostname <name>', 'worker name; %h is the host name (default celeriac@%h)')
    .option('-l, --loglevel <level>', 'debug | info | warn | error', 'info')
    .option('--log-format <format>', 'text | json', 'text')
    .option('--grace <seconds>', 'warm shutdown: seconds in-flight tasks may take before they are handed back', undefined)
    .option('--time-limit <duration>', "hard time limit of tasks that set none (e.g. '5m')")
    .option('--soft-time-limit <duration>', "soft time limit of tasks that set none (e.g. '4m')")
    .option('--heartbeat <duration>', "heartbeat of the worker registry (default '2s'; offline after 3 missed)")
    .option('--without-events', 'publish no task and worker events (switch on later with celeriac control enable-events)')
    .option('--autoscale <max,min>', 'grow and shrink async slots between min and max with the backlog (CPU threads between 1 and --cpu-threads)')
    .option('--max-tasks-per-thread <n>', 'recycle a CPU thread after it ran n tasks (no task fails)')
    .option('--max-memory-per-thread <mb>', "recycle a CPU thread once its heap passes this many MiB after a task (no task fails)")
    .action(async (flags) => {
      process.exitCode = await runWorker(flags);
    });
  clientOptions(program.command('call <task>').description('send a task by name; prints its id (or its result with --wait)'))
    .option('--args <json>', 'positional arguments as a JSON array', '[]')
    .option('--kwargs <json>', 'keyword arguments as a JSON object (passed as a last argument)')
    .option('-Q, --queue <queue>', 'queue to send to')
    .option('--countdown <duration>', "run no earlier than this from now (e.g. '10s', '5m')")
    .option('--eta <iso8601>', 'run no earlier than this time')
    .option('--wait', 'wait for the result and print it')
    .option('--no-progress', "with --wait, do not print the task's state updates (progress, custom states) to stderr")
    .action(async (task, flags) => {
      process.exitCode = await runCall(task, flags);
    });
  clientOptions(program.command('result <id>').description('print the stored result of a task'))
    .option('--wait', 'wait until the task finished')
    .option('--no-progress', "with --wait, do not print the task's state updates (progress, custom states) to stderr")
    .action(async (id, flags) => {
      process.exitCode = await runResult(id, flags);
    });
  clientOptions(
    program
      .command('dlq <action> [task-id]')
      .description('dead-letter stream: list | show <task-id> | replay [--id <task-id>]... [--all] | purge  (all take -Q <queue>)'),
  )
    .option('-Q, --queue <queue>', 'only this queue')
    .option('--limit <n>', 'list: at most this many', '1000')
    .option('--id <task-id>', 'replay: this task id (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--all', 'replay: every entry (of --queue, when given)')
    .option('--force', 'replay: also entries refused by the signature checks (replay signs them)')
    .option('--json', 'list: JSON output')
    .action(async (action, target, flags) => {
      process.exitCode = await runDlq(action, target, flags);
    });
  program
    .command('keys <action>')
    .description('generate: write an Ed25519 key pair (and with --aes an AES-256 key) for createApp({ security })')
    .option('-o, --out <dir>', 'directory to write to', '.')
    .option('--id <key-id>', 'key id (file names and the celeriac-key header)', 'default')
    .option('--aes', 'also write a random AES-256-GCM key (<id>.aes, base64)')
    .option('--force', 'overwrite existing files')
    .action((action: string, flags) => {
      process.exitCode = runKeysGenerate(action, flags);
    });
  program
    .command('beat')
    .description('run the scheduler alone: delayed tasks to their queues, periodic tasks (one leader at a time)')
    .requiredOption('-A, --app <module>', 'module that exports the app (default export or "app")')
    .option('-b, --broker <url>', 'broker URL')
    .option('-s, --schedules <file>', 'JSON file of schedules: { "<name>": { task, cron | every, ... } }')
    .option('-l, --loglevel <level>', 'debug | info | warn | error', 'info')
    .option('--log-format <format>', 'text | json', 'text')
    .action(async (flags) => {
      process.exitCode = await runBeat(flags);
    });
  const inspect = program.command('inspect').description('look at what the app holds');
  clientOptions(inspect.command('scheduled').description('delayed tasks waiting for their eta, soonest first'))
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'JSON output')
    .action(async (flags) => {
      process.exitCode = await runInspectScheduled(flags);
    });
  for (const [name, description] of [
    ['ping', 'every worker answers pong'],
    ['active', 'tasks running now, per worker'],
    ['reserved', 'tasks received and not started yet, per worker'],
    ['registered', 'task names each worker can run'],
    ['stats', 'pools, counters, memory, load, time-limit overrides, per worker'],
    ['active-queues', 'queues each worker consumes'],
  ] as const) {
    controlOptions(inspect.command(name).description(`${description} (request/reply to the workers)`)).action(async (flags) => {
      process.exitCode = await runInspect(name, flags);
    });
  }
  const control = program.command('control').description('remote control of the workers');
  controlOptions(control.command('time-limit <task> <soft> [hard]').description("override a task's soft and hard time limits, in seconds or '30s' ('none' = no limit)")).action(
    async (task, soft, hard, flags) => {
      process.exitCode = await runControl('time-limit', [task, soft, ...(hard ? [hard] : [])], flags);
    },
  );
  controlOptions(control.command('shutdown').description('warm shutdown of the workers (tasks in flight finish)')).action(async (flags) => {
    process.exitCode = await runControl('shutdown', [], flags);
  });
  for (const [name, description] of [
    ['pool-grow', 'add n async slots (or CPU threads with --pool cpu)'],
    ['pool-shrink', 'remove n async slots (or CPU threads with --pool cpu); running tasks finish'],
  ] as const) {
    controlOptions(control.command(`${name} [n]`).description(description))
      .option('--pool <pool>', 'io (async slots) or cpu (threads)', 'io')
      .action(async (n, flags) => {
        process.exitCode = await runControl(name, n ? [n] : [], flags);
      });
  }
  for (const [name, description] of [
    ['add-consumer', 'make the workers consume a queue too'],
    ['cancel-consumer', 'make the workers stop consuming a queue (tasks taken finish)'],
  ] as const) {
    controlOptions(control.command(`${name} <queue>`).description(description)).action(async (queue, flags) => {
      process.exitCode = await runControl(name, [queue], flags);
    });
  }
  clientOptions(control.command('revoke <ids...>').description('revoke task ids: queued ones are skipped, running ones aborted'))
    .option('--terminate', 'also terminate running executions (CPU thread terminated, I/O task abandoned)')
    .action(async (ids, flags) => {
      process.exitCode = await runRevoke(ids, flags);
    });
  clientOptions(control.command('enable-events').description('every worker publishes task and worker events')).action(async (flags) => {
    process.exitCode = await runEventsSwitch(true, flags);
  });
  clientOptions(control.command('disable-events').description('every worker stops publishing task events')).action(async (flags) => {
    process.exitCode = await runEventsSwitch(false, flags);
  });
  clientOptions(program.command('events').description('print the live events of the workers (task-*, worker-*)'))
    .option('--type <types>', 'comma-separated event types to show, e.g. task-failed,task-retried')
    .option('--task <name>', 'only events of this task name')
    .option('--json', 'one JSON object per line')
    .option('--no-color', 'no colours')
    .action(async (flags) => {
      process.exitCode = await runEvents(flags);
    });
  clientOptions(inspect.command('workers').description('the worker registry: nodes, whether they are online, counters'))
    .option('--json', 'JSON output')
    .action(async (flags) => {
      process.exitCode = await runInspectWorkers(flags);
    });
  clientOptions(control.command('rate-limit <task> <rate>').description("change a task's rate limit at run time ('100/s', '10/m', '1000/h', or off)")).action(
    async (task, rate, flags) => {
      process.exitCode = await runRateLimit(task, rate, flags);
    },
  );
  clientOptions(program.command('status').description('nodes, queues with depth and consumers, dead letters, delayed tasks'))
    .option('--json', 'JSON output')
    .action(async (flags) => {
      process.exitCode = await runStatus(flags);
    });
  clientOptions(program.command('provision').description('create or update the streams, buckets and queue consumers of the app (run once as the NATS admin)'))
    .option('-Q, --queues <list>', 'comma-separated queues whose consumers to create (default: the app default queue)')
    .option('--buckets <list>', "more KV buckets by app.keyValue() name, e.g. 'sagas:7d,breakers'")
    .option('--json', 'JSON output')
    .action(async (flags) => {
      process.exitCode = await runProvision(flags);
    });
  clientOptions(program.command('purge').description('delete every message of queues (asks first unless --force)'))
    .requiredOption('-Q, --queues <list>', 'comma-separated queues to empty')
    .option('-f, --force', 'do not ask for confirmation')
    .action(async (flags) => {
      process.exitCode = await runPurge(flags);
    });
  clientOptions(program.command('dashboard').description('web dashboard: workers, queues, tasks, dead letters, charts (bearer-token auth)'))
    .option('--port <n>', 'port to listen on', '5555')
    .option('--host <host>', 'address to bind (loopback by default; anything else is reachable from the network)', '127.0.0.1')
    .option('--token <token>', 'bearer token (or CELERIAC_DASHBOARD_TOKEN; a random one is made and printed otherwise)')
    .action(async (flags) => {
      process.exitCode = await runDashboard(flags);
    });
  return program;
}

/** Options shared by the client commands (`call`, `result`, `dlq`, ...). */
function clientOptions(cmd: Command, timeout: { default: string; help: string } = { default: '60s', help: 'how long --wait waits' }): Command {
  return cmd
    .option('-A, --app <module>', 'module that exports the app')
    .option('--app-name <name>', 'app name when no -A module is given (or CELERIAC_APP)')
    .option('-b, --broker <url>', 'broker URL')
    .option('--timeout <duration>', timeout.help, timeout.default);
}

/** Options of the request/reply commands (`inspect ...`, `control ...`). */
function controlOptions(cmd: Command): Command {
  return clientOptions(cmd, { default: '1s', help: 'how long to wait for replies (earlier once every addressed worker answered)' })
    .option('-d, --destination <names>', 'comma-separated worker names (default: every worker)')
    .option('--json', 'JSON output');
}

/** Entry point of the `celeriac` binary. */
export async function main(argv = process.argv): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander printed it already (help and --version exit 0, a usage error 2).
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (isCliError(err)) {
      process.stderr.write(`celeriac: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    if (isInvalidArgumentError(err)) {
      process.stderr.write(`celeriac: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (isCeleriacError(err)) {
      // An error of Celeriac's own (E_BROKER_AUTH, E_PUBLISH, ...) says what to do: code and message, no stack.
      process.stderr.write(`celeriac: ${err.code}: ${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    process.stderr.write(`celeriac: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
}
