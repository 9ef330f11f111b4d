import type { Setting } from './setting.js';
import { DISPATCH_SETTINGS } from './settings-dispatch.js';

export type { Group, Kind, Setting } from './setting.js';
export { EXECUTION_MODES, type ExecutionMode } from './settings-dispatch.js';

/**
 * Every setting of a replica: its environment variable, its group in Config, its default and its meaning
 * (`--help` prints this table). Parsing is in parse-setting.ts, the validated Config in config.ts.
 */
export const ELECTION_BACKENDS = ['etcd', 'redis', 'postgres', 'static'] as const;
export type ElectionBackend = (typeof ELECTION_BACKENDS)[number];
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Every setting: its environment variable, group, default and meaning. `--help` is printed from this. */

export const SETTINGS = {
  databaseUrl: {
    env: 'DATABASE_URL',
    group: 'database',
    kind: { type: 'url', protocols: ['postgres:', 'postgresql:'] },
    default: undefined,
    secret: true,
    help: 'PostgreSQL connection string (required), e.g. postgres://user@127.0.0.1:5432/app',
  },
  electionBackend: {
    env: 'ELECTION_BACKEND',
    group: 'election',
    kind: { type: 'enum', values: ELECTION_BACKENDS },
    default: 'etcd',
    help:
      'how replicas elect the one that executes: etcd (scheme II), redis (scheme I), ' +
      'postgres (a lease row) or static (LEADER_ID)',
  },
  etcdEndpoints: {
    env: 'ETCD_ENDPOINTS',
    group: 'etcd',
    kind: { type: 'urls', protocols: ['http:', 'https:'] },
    default: ['http://127.0.0.1:2379'],
    help: 'comma-separated etcd client URLs; list every member (https:// with ETCD_CA_FILE for TLS)',
  },
  etcdCaFile: {
    env: 'ETCD_CA_FILE',
    group: 'etcd',
    kind: { type: 'string' },
    default: undefined,
    optional: true,
    help: "PEM file of the CA that signed the etcd servers' certificates (turns TLS on)",
  },
  etcdCertFile: {
    env: 'ETCD_CERT_FILE',
    group: 'etcd',
    kind: { type: 'string' },
    default: undefined,
    optional: true,
    help: 'PEM client certificate for etcd (with ETCD_KEY_FILE and ETCD_CA_FILE)',
  },
  etcdKeyFile: {
    env: 'ETCD_KEY_FILE',
    group: 'etcd',
    kind: { type: 'string' },
    default: undefined,
    optional: true,
    help: 'PEM private key of ETCD_CERT_FILE',
  },
  etcdUsername: {
    env: 'ETCD_USERNAME',
    group: 'etcd',
    kind: { type: 'string' },
    default: undefined,
    optional: true,
    help: "etcd user (etcd's own auth; with ETCD_PASSWORD)",
  },
  etcdPassword: {
    env: 'ETCD_PASSWORD',
    group: 'etcd',
    kind: { type: 'string' },
    default: undefined,
    optional: true,
    secret: true,
    help: 'password of ETCD_USERNAME',
  },
  redisUrl: {
    env: 'REDIS_URL',
    group: 'election',
    kind: { type: 'url', protocols: ['redis:', 'rediss:'] },
    default: 'redis://127.0.0.1:6379',
    secret: true,
    help: 'Redis URL for ELECTION_BACKEND=redis (rediss:// for TLS; redis://user:password@host for ACLs)',
  },
  electionName: {
    env: 'ELECTION_NAME',
    group: 'election',
    kind: { type: 'string' },
    default: 'retry-worker',
    help: 'names the group of replicas: its election key and its fence row in Postgres',
  },
  leaseTtlSeconds: {
    env: 'LEASE_TTL_SECONDS',
    group: 'election',
    kind: { type: 'int', min: 2, max: 300 },
    default: 5,
    help: 'leader lease TTL; a leader that crashes, freezes or is cut off is replaced within about this time + 2 s',
  },
  leaderId: {
    env: 'LEADER_ID',
    group: 'election',
    kind: { type: 'string' },
    default: undefined,
    optional: true,
    help: 'ELECTION_BACKEND=static: the REPLICA_ID of the one replica that executes (required there)',
  },
  staticEpoch: {
    env: 'STATIC_EPOCH',
    group: 'election',
    kind: { type: 'int', min: 1, max: Number.MAX_SAFE_INTEGER },
    default: 1,
    help: 'ELECTION_BACKEND=static: the lowest epoch of the configured leader; raise it whenever LEADER_ID changes',
  },
  ...DISPATCH_SETTINGS,
  replicaId: {
    env: 'REPLICA_ID',
    group: 'top',
    kind: { type: 'string' },
    default: undefined,
    optional: true,
    help: 'this replica in logs and headers (default: hostname-pid-random)',
  },
  concurrency: {
    env: 'CONCURRENCY',
    group: 'execution',
    kind: { type: 'int', min: 1, max: 10_000 },
    default: 10,
    help: 'handlers running at once on the leader (dispatch: on each replica; its prefetch is twice this)',
  },
  batchSize: {
    env: 'BATCH_SIZE',
    group: 'claim',
    kind: { type: 'int', min: 1, max: 10_000 },
    default: undefined,
    optional: true,
    help:
      "the most records one claim takes (default 2000; a claim takes about 50 ms of its handlers' work); " +
      'dispatch mode: the most messages in flight (default 500)',
  },
  maxOpenBatches: {
    env: 'MAX_OPEN_BATCHES',
    group: 'claim',
    kind: { type: 'int', min: 1, max: 100 },
    default: 2,
    help: 'claim transactions open at once (each holds a connection)',
  },
  payloadMaxBytes: {
    env: 'PAYLOAD_MAX_BYTES',
    group: 'claim',
    kind: { type: 'int', min: 1_024, max: 256 * 1024 * 1024 },
    default: 1024 * 1024,
    help: 'a record whose payload (as JSON text) is larger is not loaded: it is marked dead, saying why',
  },
  pollIntervalMs: {
    env: 'POLL_INTERVAL_MS',
    group: 'claim',
    kind: { type: 'int', min: 10, max: 3_600_000 },
    default: 1_000,
    help: 'the leader looks for due records at least this often (LISTEN/NOTIFY wakes it sooner)',
  },
  executionTimeoutMs: {
    env: 'EXECUTION_TIMEOUT_MS',
    group: 'execution',
    kind: { type: 'int', min: 10, max: 3_600_000 },
    default: 60_000,
    help: "one execution's limit; then its signal aborts and the attempt counts as failed",
  },
  shutdownTimeoutMs: {
    env: 'SHUTDOWN_TIMEOUT_MS',
    group: 'execution',
    kind: { type: 'int', min: 0, max: 3_600_000 },
    default: 10_000,
    help: 'on SIGTERM, how long in-flight executions may finish before their signals abort',
  },
  ledgerSuccessHoldMs: {
    env: 'LEDGER_SUCCESS_HOLD_MS',
    group: 'execution',
    kind: { type: 'int', min: 0, max: 60_000 },
    // A batch holds about 50 ms of handler work (loop/claim-pace.ts) and may wait behind the one before it
    // (MAX_OPEN_BATCHES): with 50 here, most successes of a fast drain outlived the hold and were written twice.
    default: 200,
    help: 'a success waits this long for its batch to commit it before it is written to the ledger too (0: at once)',
  },
  defaultMaxAttempts: {
    env: 'DEFAULT_MAX_ATTEMPTS',
    group: 'execution',
    kind: { type: 'int', min: 1, max: 1_000_000 },
    default: 5,
    help: 'attempts for a record whose max_attempts column is NULL',
  },
  backoffBaseMs: {
    env: 'BACKOFF_BASE_MS',
    group: 'execution',
    kind: { type: 'int', min: 0, max: 86_400_000 },
    default: 1_000,
    help: 'delay before the first retry; doubles each attempt, with jitter',
  },
  backoffMaxMs: {
    env: 'BACKOFF_MAX_MS',
    group: 'execution',
    kind: { type: 'int', min: 0, max: 604_800_000 },
    default: 300_000,
    help: 'cap on the retry delay',
  },
  retainSucceededDays: {
    env: 'RETAIN_SUCCEEDED_DAYS',
    group: 'retention',
    kind: { type: 'int', min: 1, max: 36_500 },
    default: undefined,
    optional: true,
    help: 'the leader deletes succeeded records (with their ledger rows) this many days after they finished',
  },
  retainFinishedDays: {
    env: 'RETAIN_FINISHED_DAYS',
    group: 'retention',
    kind: { type: 'int', min: 1, max: 36_500 },
    default: undefined,
    optional: true,
    help: 'the leader deletes dead, discarded and cancelled records (with their ledger rows) this many days after',
  },
  handlersModule: {
    env: 'HANDLERS_MODULE',
    group: 'top',
    kind: { type: 'string' },
    default: undefined,
    optional: true,
    help: 'path of an ES module whose default export maps kind -> handler',
  },
  httpHandlerAllowHosts: {
    env: 'HTTP_HANDLER_ALLOW_HOSTS',
    group: 'httpHandler',
    kind: { type: 'hosts' },
    default: undefined,
    optional: true,
    help:
      'the built-in http handler calls only these hosts (names, *.suffix, IPv4/IPv6 CIDRs; checked after DNS); ' +
      'unset: any host but link-local and cloud-metadata ones',
  },
  httpHandlerMaxResponseBytes: {
    env: 'HTTP_HANDLER_MAX_RESPONSE_BYTES',
    group: 'httpHandler',
    kind: { type: 'int', min: 0, max: 65_536 },
    default: 1_024,
    help: 'the most of a response body the built-in http handler reads (0-65536), for last_error; the rest is not',
  },
  httpPort: {
    env: 'HTTP_PORT',
    group: 'http',
    kind: { type: 'int', min: 0, max: 65_535 },
    default: undefined,
    optional: true,
    help: 'serve /healthz, /readyz, /metrics and / on this port (unset: no HTTP server; 0: any free port)',
  },
  httpHost: {
    env: 'HTTP_HOST',
    group: 'http',
    kind: { type: 'string' },
    default: undefined,
    optional: true,
    help: 'address the HTTP server binds (default: every interface)',
  },
  httpToken: {
    env: 'HTTP_TOKEN',
    group: 'http',
    kind: { type: 'string' },
    default: undefined,
    optional: true,
    secret: true,
    help: 'when set, every path but /healthz and /readyz needs "Authorization: Bearer <token>"',
  },
  logLevel: {
    env: 'LOG_LEVEL',
    group: 'top',
    kind: { type: 'enum', values: LOG_LEVELS },
    default: 'info',
    help: 'pino log level',
  },
} satisfies Record<string, Setting>;

export type SettingName = keyof typeof SETTINGS;

/** Settings by name, as the library API takes them; strings are parsed as the environment's would be. */
export type ConfigInput = { [K in SettingName]?: unknown };
