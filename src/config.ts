import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ConfigError } from './errors.js';
import { describe, parseSetting } from './parse-setting.js';
import {
  type ConfigInput,
  type ElectionBackend,
  type ExecutionMode,
  type LogLevel,
  SETTINGS,
  type Setting,
  type SettingName,
} from './settings.js';

export {
  type ConfigInput,
  type ElectionBackend,
  type ExecutionMode,
  type LogLevel,
  SETTINGS,
  type SettingName,
} from './settings.js';

/** The validated, frozen settings of one replica, in the groups its parts take them. Units are in the names. */
export interface Config {
  readonly replicaId: string;
  readonly logLevel: LogLevel;
  readonly handlersModule: string | undefined;
  readonly database: { readonly url: string };
  readonly election: ElectionConfig;
  readonly claim: ClaimConfig;
  readonly execution: ExecutionConfig;
  readonly retention: RetentionConfig;
  readonly dispatch: DispatchConfig;
  readonly httpHandler: HttpHandlerConfig;
  readonly http: HttpConfig;
}

export interface ElectionConfig {
  readonly backend: ElectionBackend;
  readonly name: string;
  readonly leaseTtlSeconds: number;
  readonly etcd: EtcdConfig;
  readonly redisUrl: string;
  readonly leaderId: string | undefined;
  readonly staticEpoch: number;
}

export interface EtcdConfig {
  readonly endpoints: readonly string[];
  readonly caFile: string | undefined;
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  readonly username: string | undefined;
  readonly password: string | undefined;
}

export interface ClaimConfig {
  readonly batchSize: number;
  readonly maxOpenBatches: number;
  readonly pollIntervalMs: number;
  readonly payloadMaxBytes: number;
}

export interface ExecutionConfig {
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly shutdownTimeoutMs: number;
  /** A success waits this long for its batch's COMMIT before it is written to the ledger too (0: at once). */
  readonly ledgerSuccessHoldMs: number;
  readonly defaultMaxAttempts: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

/** How long the leader keeps finished records (undefined: for ever). */
export interface RetentionConfig {
  readonly succeededDays: number | undefined;
  /** Dead, discarded and cancelled records. */
  readonly finishedDays: number | undefined;
}

/** Scenario 1 (`leader`, only the leader executes) or 2 (`dispatch`: through RabbitMQ, every replica executes). */
export interface DispatchConfig {
  readonly mode: ExecutionMode;
  /** Required in dispatch mode; a secret (it may hold a password). */
  readonly amqpUrl: string | undefined;
  readonly redeliverAfterMs: number;
}

/** The built-in `http` handler's limits. */
export interface HttpHandlerConfig {
  /** Host names, `*.suffix` patterns and CIDRs it may call; undefined: any but link-local and cloud-metadata. */
  readonly allowHosts: readonly string[] | undefined;
  readonly maxResponseBytes: number;
}

export interface HttpConfig {
  readonly port: number | undefined;
  readonly host: string | undefined;
  readonly token: string | undefined;
}

/**
 * BATCH_SIZE when unset. Leader mode: the most a claim takes (ClaimPace sizes each claim by the recent pace).
 * Dispatch mode: the most messages in flight, each marked on its row and waiting in RabbitMQ's queue.
 */
export const LEADER_BATCH_SIZE = 2_000;
export const DISPATCH_BATCH_SIZE = 500;

/** Reads every setting from the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const input: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(SETTINGS) as [SettingName, Setting][]) {
    const raw = env[setting.env];
    if (raw !== undefined && raw.trim() !== '') input[name] = raw;
  }
  return resolveConfig(input);
}

/** Validates settings given by name, fills the defaults and returns a frozen Config. */
export function resolveConfig(input: ConfigInput): Config {
  for (const name of Object.keys(input)) {
    if (!Object.hasOwn(SETTINGS, name))
      throw new ConfigError(name, `unknown setting; expected one of ${Object.keys(SETTINGS).join(', ')}`);
  }
  const v: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(SETTINGS) as [SettingName, Setting][]) {
    const value = input[name];
    if (value === undefined) {
      if (setting.default === undefined && !setting.optional)
        throw new ConfigError(setting.env, `is required; expected ${describe(setting.kind)}`);
      v[name] = setting.default;
    } else {
      v[name] = parseSetting(setting, value);
    }
  }
  const n = v as { [K in SettingName]: never };
  if (n.backoffMaxMs < n.backoffBaseMs) {
    throw new ConfigError(
      'BACKOFF_MAX_MS',
      `is ${n.backoffMaxMs}, below BACKOFF_BASE_MS (${n.backoffBaseMs}); expected a cap at least as large as the base`,
    );
  }
  if (n.electionBackend === 'static' && n.leaderId === undefined) {
    throw new ConfigError(
      'LEADER_ID',
      'is required when ELECTION_BACKEND=static; expected the REPLICA_ID of the replica that executes',
    );
  }
  if ((n.etcdCertFile === undefined) !== (n.etcdKeyFile === undefined)) {
    throw new ConfigError(
      n.etcdCertFile === undefined ? 'ETCD_CERT_FILE' : 'ETCD_KEY_FILE',
      'is unset while its pair is set; expected both ETCD_CERT_FILE and ETCD_KEY_FILE, or neither',
    );
  }
  if ((n.etcdUsername === undefined) !== (n.etcdPassword === undefined)) {
    throw new ConfigError(
      n.etcdUsername === undefined ? 'ETCD_USERNAME' : 'ETCD_PASSWORD',
      'is unset while its pair is set; expected both ETCD_USERNAME and ETCD_PASSWORD, or neither',
    );
  }
  if (n.executionMode === 'dispatch' && n.amqpUrl === undefined) {
    throw new ConfigError(
      'AMQP_URL',
      'is required when EXECUTION_MODE=dispatch; expected a URL starting with amqp:// or amqps://',
    );
  }
  const etcdTls = (n.etcdEndpoints as string[]).some((e) => e.startsWith('https:'));
  if (etcdTls && n.etcdCaFile === undefined && n.electionBackend === 'etcd') {
    throw new ConfigError(
      'ETCD_CA_FILE',
      'is required when ETCD_ENDPOINTS uses https://; ' +
        "expected the PEM file of the CA that signed the etcd servers' certificates",
    );
  }
  return deepFreeze({
    replicaId: n.replicaId ?? defaultReplicaId(),
    logLevel: n.logLevel,
    handlersModule: n.handlersModule,
    database: { url: n.databaseUrl },
    election: {
      backend: n.electionBackend,
      name: n.electionName,
      leaseTtlSeconds: n.leaseTtlSeconds,
      etcd: {
        endpoints: n.etcdEndpoints,
        caFile: n.etcdCaFile,
        certFile: n.etcdCertFile,
        keyFile: n.etcdKeyFile,
        username: n.etcdUsername,
        password: n.etcdPassword,
      },
      redisUrl: n.redisUrl,
      leaderId: n.leaderId,
      staticEpoch: n.staticEpoch,
    },
    claim: {
      batchSize: n.batchSize ?? (n.executionMode === 'dispatch' ? DISPATCH_BATCH_SIZE : LEADER_BATCH_SIZE),
      maxOpenBatches: n.maxOpenBatches,
      pollIntervalMs: n.pollIntervalMs,
      payloadMaxBytes: n.payloadMaxBytes,
    },
    execution: {
      concurrency: n.concurrency,
      timeoutMs: n.executionTimeoutMs,
      shutdownTimeoutMs: n.shutdownTimeoutMs,
      ledgerSuccessHoldMs: n.ledgerSuccessHoldMs,
      defaultMaxAttempts: n.defaultMaxAttempts,
      backoffBaseMs: n.backoffBaseMs,
      backoffMaxMs: n.backoffMaxMs,
    },
    retention: { succeededDays: n.retainSucceededDays, finishedDays: n.retainFinishedDays },
    dispatch: { mode: n.executionMode, amqpUrl: n.amqpUrl, redeliverAfterMs: n.dispatchRedeliverAfterMs },
    httpHandler: { allowHosts: n.httpHandlerAllowHosts, maxResponseBytes: n.httpHandlerMaxResponseBytes },
    http: { port: n.httpPort, host: n.httpHost, token: n.httpToken },
  });
}

/** A Config, or settings by name to resolve into one. */
export function isConfig(value: Config | ConfigInput): value is Config {
  return typeof (value as Config).database === 'object' && typeof (value as Config).election === 'object';
}

function defaultReplicaId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** The text `--help` prints for the settings: one line per variable with its default. */
export function describeSettings(): string {
  const rows = (Object.values(SETTINGS) as Setting[]).map((s) => {
    const def =
      s.default === undefined
        ? s.optional
          ? '(unset)'
          : '(required)'
        : Array.isArray(s.default)
          ? s.default.join(',')
          : String(s.default);
    return [s.env, def, s.help] as const;
  });
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  return rows.map(([env, def, help]) => `  ${env.padEnd(w0)}  ${def.padEnd(w1)}  ${help}`).join('\n');
}
