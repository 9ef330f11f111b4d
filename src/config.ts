import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { ConfigError } from './errors.js';

/** The validated, frozen settings of one replica. Units are in the names. */
export interface Config {
  readonly databaseUrl: string;
  readonly electionBackend: ElectionBackend;
  readonly etcdEndpoints: readonly string[];
  readonly redisUrl: string;
  readonly electionName: string;
  readonly leaseTtlSeconds: number;
  readonly replicaId: string;
  readonly concurrency: number;
  readonly batchSize: number;
  readonly maxOpenBatches: number;
  readonly executionTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  readonly defaultMaxAttempts: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly pollIntervalMs: number;
  readonly handlersModule: string | undefined;
  readonly leaderId: string | undefined;
  readonly staticEpoch: number;
  readonly httpPort: number | undefined;
  readonly logLevel: LogLevel;
}

export const ELECTION_BACKENDS = ['etcd', 'redis', 'postgres', 'static'] as const;
export type ElectionBackend = (typeof ELECTION_BACKENDS)[number];
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

type Kind =
  | { type: 'string'; nonEmpty?: boolean }
  | { type: 'int'; min: number; max: number }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'list' }
  | { type: 'url'; protocols: readonly string[] };

interface Setting {
  readonly env: string;
  readonly kind: Kind;
  /** `undefined` means required (when `optional` is false) or unset. */
  readonly default: unknown;
  readonly optional?: boolean;
  readonly help: string;
}

/** Every setting, its environment variable, its default and what it means. `--help` is printed from this. */
export const SETTINGS = {
  databaseUrl: {
    env: 'DATABASE_URL',
    kind: { type: 'url', protocols: ['postgres:', 'postgresql:'] },
    default: undefined,
    help: 'PostgreSQL connection string (required), e.g. postgres://user@127.0.0.1:5432/app',
  },
  electionBackend: {
    env: 'ELECTION_BACKEND',
    kind: { type: 'enum', values: ELECTION_BACKENDS },
    default: 'etcd',
    help: 'how replicas elect the one that executes: etcd (scheme II), redis (scheme I), postgres (a lease row) or static (LEADER_ID)',
  },
  etcdEndpoints: {
    env: 'ETCD_ENDPOINTS',
    kind: { type: 'list' },
    default: ['http://127.0.0.1:2379'],
    help: 'comma-separated etcd client URLs (etcd 3.4 or later: we use the HTTP/JSON API it serves there); list every member',
  },
  redisUrl: {
    env: 'REDIS_URL',
    kind: { type: 'url', protocols: ['redis:', 'rediss:'] },
    default: 'redis://127.0.0.1:6379',
    help: 'Redis URL for ELECTION_BACKEND=redis',
  },
  electionName: {
    env: 'ELECTION_NAME',
    kind: { type: 'string', nonEmpty: true },
    default: 'retry-worker',
    help: 'names the group of replicas: its etcd key and its fence row in Postgres',
  },
  leaseTtlSeconds: {
    env: 'LEASE_TTL_SECONDS',
    kind: { type: 'int', min: 2, max: 300 },
    default: 5,
    help: "leader lease TTL; a crashed leader is replaced within about this time",
  },
  replicaId: {
    env: 'REPLICA_ID',
    kind: { type: 'string', nonEmpty: true },
    default: undefined,
    optional: true,
    help: 'this replica in logs and headers (default: hostname-pid-random)',
  },
  concurrency: {
    env: 'CONCURRENCY',
    kind: { type: 'int', min: 1, max: 10_000 },
    default: 10,
    help: 'handlers running at once on the leader',
  },
  batchSize: {
    env: 'BATCH_SIZE',
    kind: { type: 'int', min: 1, max: 10_000 },
    default: 100,
    help: 'records claimed per transaction (larger batches cost fewer statements per record; a crash counts an attempt for every record of its open batches)',
  },
  maxOpenBatches: {
    env: 'MAX_OPEN_BATCHES',
    kind: { type: 'int', min: 1, max: 100 },
    default: 2,
    help: 'claim transactions open at once (each holds a connection)',
  },
  executionTimeoutMs: {
    env: 'EXECUTION_TIMEOUT_MS',
    kind: { type: 'int', min: 10, max: 3_600_000 },
    default: 60_000,
    help: "one execution's limit; then its signal aborts and the attempt counts as failed",
  },
  shutdownTimeoutMs: {
    env: 'SHUTDOWN_TIMEOUT_MS',
    kind: { type: 'int', min: 0, max: 3_600_000 },
    default: 10_000,
    help: 'on SIGTERM, how long in-flight executions may finish before their signals abort',
  },
  defaultMaxAttempts: {
    env: 'DEFAULT_MAX_ATTEMPTS',
    kind: { type: 'int', min: 1, max: 1_000_000 },
    default: 5,
    help: 'attempts for a record whose max_attempts column is NULL',
  },
  backoffBaseMs: {
    env: 'BACKOFF_BASE_MS',
    kind: { type: 'int', min: 0, max: 86_400_000 },
    default: 1_000,
    help: 'delay before the first retry; doubles each attempt, with jitter',
  },
  backoffMaxMs: {
    env: 'BACKOFF_MAX_MS',
    kind: { type: 'int', min: 0, max: 604_800_000 },
    default: 300_000,
    help: 'cap on the retry delay',
  },
  pollIntervalMs: {
    env: 'POLL_INTERVAL_MS',
    kind: { type: 'int', min: 10, max: 3_600_000 },
    default: 1_000,
    help: 'the leader looks for due records at least this often (LISTEN/NOTIFY wakes it sooner)',
  },
  handlersModule: {
    env: 'HANDLERS_MODULE',
    kind: { type: 'string', nonEmpty: true },
    default: undefined,
    optional: true,
    help: 'path of an ES module whose default export maps kind -> handler',
  },
  leaderId: {
    env: 'LEADER_ID',
    kind: { type: 'string', nonEmpty: true },
    default: undefined,
    optional: true,
    help: 'ELECTION_BACKEND=static: the REPLICA_ID of the one replica that executes (required there)',
  },
  staticEpoch: {
    env: 'STATIC_EPOCH',
    kind: { type: 'int', min: 1, max: Number.MAX_SAFE_INTEGER },
    default: 1,
    help: 'ELECTION_BACKEND=static: the epoch of the configured term; raise it whenever LEADER_ID changes',
  },
  httpPort: {
    env: 'HTTP_PORT',
    kind: { type: 'int', min: 0, max: 65_535 },
    default: undefined,
    optional: true,
    help: 'serve /healthz, /readyz, /metrics and / on this port (unset: no HTTP server; 0: any free port)',
  },
  logLevel: {
    env: 'LOG_LEVEL',
    kind: { type: 'enum', values: LOG_LEVELS },
    default: 'info',
    help: 'pino log level',
  },
} satisfies Record<keyof Config, Setting>;

export type ConfigInput = { [K in keyof Config]?: Config[K] | string };

/** Reads every setting from the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const input: ConfigInput = {};
  for (const [key, setting] of Object.entries(SETTINGS) as [keyof Config, Setting][]) {
    const raw = env[setting.env];
    if (raw !== undefined && raw.trim() !== '') (input as Record<string, unknown>)[key] = raw;
  }
  return resolveConfig(input);
}

/**
 * Validates settings given as values or strings (the library API and the environment share it),
 * fills defaults and returns a frozen Config.
 */
export function resolveConfig(input: ConfigInput): Config {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(SETTINGS, key)) throw new ConfigError(key, `unknown setting; expected one of ${Object.keys(SETTINGS).join(', ')}`);
  }
  for (const [key, setting] of Object.entries(SETTINGS) as [keyof Config, Setting][]) {
    const value = input[key];
    if (value === undefined) {
      if (setting.default === undefined && !setting.optional) {
        throw new ConfigError(setting.env, `is required; expected ${describe(setting.kind)}`);
      }
      out[key] = setting.default;
      continue;
    }
    out[key] = parseSetting(setting, value);
  }
  const config = out as unknown as Config;
  if (config.backoffMaxMs < config.backoffBaseMs) {
    throw new ConfigError('BACKOFF_MAX_MS', `is ${config.backoffMaxMs}, below BACKOFF_BASE_MS (${config.backoffBaseMs}); expected a cap at least as large as the base`);
  }
  if (config.electionBackend === 'static' && config.leaderId === undefined) {
    throw new ConfigError('LEADER_ID', 'is required when ELECTION_BACKEND=static; expected the REPLICA_ID of the replica that executes');
  }
  return Object.freeze({
    ...config,
    etcdEndpoints: Object.freeze([...config.etcdEndpoints]),
    replicaId: config.replicaId ?? defaultReplicaId(),
  });
}

function parseSetting(setting: Setting, value: unknown): unknown {
  const { env, kind } = setting;
  const shown = typeof value === 'string' ? JSON.stringify(redact(value)) : String(value);
  const fail = (): never => {
    throw new ConfigError(env, `got ${shown}; expected ${describe(kind)}`);
  };
  switch (kind.type) {
    case 'string': {
      if (typeof value !== 'string') return fail();
      if (kind.nonEmpty && value.trim() === '') return fail();
      return value;
    }
    case 'int': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : NaN;
      if (!Number.isSafeInteger(n) || n < kind.min || n > kind.max) return fail();
      return n;
    }
    case 'enum': {
      if (typeof value !== 'string' || !kind.values.includes(value)) return fail();
      return value;
    }
    case 'list': {
      const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : fail();
      const trimmed = items.map((s) => String(s).trim()).filter((s) => s !== '');
      if (trimmed.length === 0) return fail();
      for (const item of trimmed) {
        if (!isUrl(item, ['http:', 'https:'])) {
          throw new ConfigError(env, `item ${JSON.stringify(item)} is not a URL; expected ${describe(kind)}`);
        }
      }
      return trimmed;
    }
    case 'url': {
      if (typeof value !== 'string' || !isUrl(value, kind.protocols)) return fail();
      return value;
    }
  }
}

function describe(kind: Kind): string {
  switch (kind.type) {
    case 'string':
      return kind.nonEmpty ? 'a non-empty string' : 'a string';
    case 'int':
      return `a whole number from ${kind.min} to ${kind.max}`;
    case 'enum':
      return `one of ${kind.values.join(', ')}`;
    case 'list':
      return 'a comma-separated list of http(s) URLs, e.g. http://10.0.0.1:2379,http://10.0.0.2:2379';
    case 'url':
      return `a URL starting with ${kind.protocols.map((p) => `${p}//`).join(' or ')}`;
  }
}

/** Hides a password in anything that looks like a URL, so error messages do not print secrets. */
function redact(value: string): string {
  return value.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}

function isUrl(value: string, protocols: readonly string[]): boolean {
  try {
    const url = new URL(value);
    // postgres:///db?host=/run/postgresql (a Unix socket) has no host part.
    return protocols.includes(url.protocol) && (url.host !== '' || url.searchParams.has('host'));
  } catch {
    return false;
  }
}

function defaultReplicaId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** The text `--help` prints for the settings: one line per variable with its default. */
export function describeSettings(): string {
  const rows = (Object.values(SETTINGS) as Setting[]).map((s) => {
    const def = s.default === undefined ? (s.optional ? '(unset)' : '(required)') : Array.isArray(s.default) ? s.default.join(',') : String(s.default);
    return [s.env, def, s.help] as const;
  });
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  return rows.map(([env, def, help]) => `  ${env.padEnd(w0)}  ${def.padEnd(w1)}  ${help}`).join('\n');
}
