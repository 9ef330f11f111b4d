#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { describeSettings, loadConfig } from './config.js';
import { migrate } from './db/migrate.js';
import { createPool } from './db/pool.js';
import { ConfigError, UsageError } from './errors.js';
import { createLogger } from './observability/logger.js';

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

const HELP = `retry-worker: a leader-gated failed-job retry worker

Replicas elect one leader; only the leader claims rows of failed_records (SELECT ... FOR UPDATE SKIP LOCKED),
re-executes them by kind, and records succeeded, pending (with backoff) or dead.

Usage:
  retry-worker start                 run a replica until SIGTERM or SIGINT; EXECUTION_MODE=leader (default): the
                                     leader executes; dispatch: the leader publishes due records to RabbitMQ
                                     (AMQP_URL) and every replica executes them
  retry-worker migrate               create or update the tables (safe to run twice, and from several replicas at once)
  retry-worker status [--json]       who leads (epoch, since when), replicas seen recently, records per status,
                                     the age of the oldest due record, the last few terms and how they ended
  retry-worker status --record ID [--json]
                                     why one record is where it is: succeeded, dead (attempts exhausted or
                                     permanent, with last_error), executing now (replica, epoch), not due until T
                                     (backoff), due but no leader, unknown kind (per HANDLERS_MODULE), ...
  retry-worker pause KIND [--reason TEXT] [--by NAME]
                                     claim no more records of KIND, on every replica and across failovers;
                                     executions already started finish (stored in Postgres; shown by status)
  retry-worker resume KIND           claim records of KIND again
  retry-worker requeue [SELECTORS] [--reason TEXT] [--actor NAME] [--dry-run] [--batch-size N] [--json]
                                     set the selected records back to pending, due now, with a fresh attempt
                                     budget (their attempts so far are kept); never touches a record a claim
                                     holds (executing): it is reported as skipped. In batches of --batch-size
                                     (default 1000) rows, each its own short transaction, paced
  retry-worker discard [SELECTORS] [--reason TEXT] [--actor NAME] [--dry-run] [--batch-size N] [--json]
                                     mark the selected records discarded (final; history kept)
      SELECTORS (all given must hold):
        --id ID                      this record (repeat for more); unknown ids are reported
        --status S[,S]               records in these statuses (default dead); requeue takes dead, discarded,
                                     cancelled, succeeded, pending; discard takes dead, pending, cancelled
        --kind KIND                  records of this kind
        --error-like PATTERN         last_error matches this LIKE pattern, case-insensitively ('%timeout%')
        --since T / --until T        last changed (a finished record: when it finished) at or after / before T:
                                     an ISO time (2026-12-01T10:00:00Z) or a duration ago (2h, 30m, 7d)
  retry-worker cancel ID [--reason TEXT] [--actor NAME] [--wait 10s] [--json]
                                     a pending record becomes cancelled; an executing one: the leader is told
                                     (NOTIFY), aborts its handler's signal with reason "cancelled", and the
                                     attempt and the record end cancelled (waits up to --wait for that)
  retry-worker prune --older-than D [--succeeded-older-than D] [--batch-size N] [--json]
                                     delete finished records (succeeded, dead, discarded, cancelled) that
                                     finished more than D ago (30d, 12h), with their ledger rows and history,
                                     in small batches; --succeeded-older-than gives succeeded ones their own age
  retry-worker demo [--dispatch]     on this machine, with no database or etcd needed: an embedded PostgreSQL,
                                     etcd if a binary is on PATH (else the postgres backend), 3 replicas, a
                                     sink, a few hundred failed records, a kill -9 of the leader, a summary;
                                     --dispatch: in EXECUTION_MODE=dispatch, with AMQP_URL's RabbitMQ (default
                                     guest/guest on 127.0.0.1:5672), all three replicas executing
  retry-worker --help                show this text

status, pause and resume read DATABASE_URL, ELECTION_NAME, DEFAULT_MAX_ATTEMPTS and HANDLERS_MODULE; requeue, discard,
cancel and prune read DATABASE_URL; their --actor defaults to user@host. demo reads only ETCD_ENDPOINTS
(optional: an etcd to use instead of starting one) and, with --dispatch, AMQP_URL.

Environment (variable, default, meaning):
${describeSettings()}

Exit codes:
  0  stopped cleanly (start: after SIGTERM/SIGINT, in-flight executions finished and leadership handed over);
     status, pause, resume: done; demo: every record settled and no overlap found
     requeue, discard: every selected record moved (--dry-run: would be); cancel: the record is cancelled;
     prune: done (also when nothing was old enough)
  1  failed at run time (database or etcd unreachable at start, schema not migrated, ...); status --record: no
     such record; demo: a record left unsettled, an overlap found, or a part failed to start
  2  bad usage or a bad setting (the message names the option or variable and what is expected)
  3  requeue, discard: not every selected record moved: nothing matched, an --id is unknown or in another
     status, or a record was skipped because it is executing; cancel: no such record, already final, ended
     otherwise before the cancel reached it, or still executing when --wait ended
`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: {
      help: { type: 'boolean', short: 'h' },
      json: { type: 'boolean' },
      record: { type: 'string' },
      reason: { type: 'string' },
      by: { type: 'string' },
      dispatch: { type: 'boolean' },
    },
  });
  const command = positionals[0];
  if (values.help || command === 'help' || command === undefined) {
    process.stdout.write(HELP);
    return command === undefined && !values.help ? EXIT.usage : EXIT.ok;
  }
  switch (command) {
    case 'start':
      return start();
    case 'migrate':
      return runMigrate();
    case 'status':
      return status(values.record, values.json === true);
    case 'demo':
      return (await import('./demo/run-demo.js')).runDemo({ out: process.stdout, dispatch: values.dispatch === true });
    case 'pause':
    case 'resume':
      return pauseOrResume(command, positionals[1], values.reason, values.by);
    case 'requeue':
    case 'discard':
    case 'cancel':
    case 'prune':
      return operatorCommand(command, argv.slice(argv.indexOf(command) + 1));
    default:
      process.stderr.write(
        `retry-worker: unknown command ${JSON.stringify(command)}; expected start, migrate, status, pause, ` +
          'resume, requeue, discard, cancel, prune or demo (see retry-worker --help)\n',
      );
      return EXIT.usage;
  }
}

async function runMigrate(): Promise<number> {
  const config = loadConfig();
  const log = createLogger(config.logLevel, config.replicaId);
  const pool = createPool({ databaseUrl: config.database.url, max: 1, applicationName: 'retry-worker migrate' });
  try {
    const applied = await migrate(pool);
    log.info({ applied }, applied.length > 0 ? 'migrations applied' : 'database already up to date');
    return EXIT.ok;
  } finally {
    await pool.end();
  }
}

async function status(record: string | boolean | undefined, json: boolean): Promise<number> {
  let recordId: number | undefined;
  if (record !== undefined) {
    recordId = typeof record === 'string' && /^\d+$/.test(record) ? Number(record) : NaN;
    if (!Number.isSafeInteger(recordId) || recordId < 1) {
      process.stderr.write(
        `retry-worker: --record needs a record id (a positive whole number), got ${JSON.stringify(record)}\n`,
      );
      return EXIT.usage;
    }
  }
  const { runStatus } = await import('./status/run-status.js');
  return runStatus(loadConfig(), {
    recordId,
    json,
    out: (text) => process.stdout.write(text),
    warn: (text) => process.stderr.write(text),
  });
}

async function pauseOrResume(
  command: 'pause' | 'resume',
  kind: string | undefined,
  reason: unknown,
  by: unknown,
): Promise<number> {
  if (kind === undefined || kind.trim() === '') {
    process.stderr.write(
      `retry-worker: ${command} needs a KIND (the records' kind), e.g. retry-worker ${command} email\n`,
    );
    return EXIT.usage;
  }
  for (const [flag, value] of [
    ['--reason', reason],
    ['--by', by],
  ] as const) {
    if (value !== undefined && (typeof value !== 'string' || value.trim() === '')) {
      process.stderr.write(
        `retry-worker: ${flag} needs a text, e.g. ` +
          `${flag} "${flag === '--by' ? 'alice' : 'the mail provider is down'}"\n`,
      );
      return EXIT.usage;
    }
  }
  const { runPause, runResume } = await import('./commands/pause-kind.js');
  const options = {
    kind,
    reason: reason as string | undefined,
    by: by as string | undefined,
    out: (text: string) => process.stdout.write(text),
    warn: (text: string) => process.stderr.write(text),
  };
  return command === 'pause' ? runPause(loadConfig(), options) : runResume(loadConfig(), options);
}

async function operatorCommand(command: 'requeue' | 'discard' | 'cancel' | 'prune', rest: string[]): Promise<number> {
  const commands = await import('./commands/operator-commands.js');
  const io = { out: (text: string) => process.stdout.write(text), warn: (text: string) => process.stderr.write(text) };
  const config = loadConfig();
  if (command === 'cancel') return commands.runCancel(config, rest, io);
  if (command === 'prune') return commands.runPrune(config, rest, io);
  return commands.runMove(config, command, rest, io);
}

async function start(): Promise<number> {
  const config = loadConfig();
  const { Worker } = await import('./worker.js');
  const worker = new Worker({ config });
  // A bug must still leave a log line that says what happened before the process dies.
  process.on('uncaughtException', (err) => {
    worker.log.fatal({ err }, 'uncaught exception; exiting');
    process.exit(EXIT.failed);
  });
  let signals = 0;
  const stopped = new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        worker.log.warn({ signal }, 'second signal: exiting without waiting');
        resolve(EXIT.failed);
        return;
      }
      worker.log.info({ signal }, 'stopping: no new claims; waiting for in-flight executions');
      worker.stop().then(
        () => resolve(EXIT.ok),
        (err) => {
          worker.log.error({ err }, 'stop failed');
          resolve(EXIT.failed);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  try {
    await worker.start();
  } catch (err) {
    worker.log.error({ err }, 'could not start');
    await worker.stop().catch(() => undefined);
    throw err;
  }
  return stopped;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`retry-worker: ${err.message} (see retry-worker --help)\n`);
      process.exit(EXIT.usage);
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`retry-worker: configuration error: ${err.message}\n`);
      process.exit(EXIT.usage);
    }
    process.stderr.write(`retry-worker: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(EXIT.failed);
  },
);
