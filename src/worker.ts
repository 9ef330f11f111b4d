import type pg from 'pg';
import { resolveConfig, type Config, type ConfigInput } from './config.js';
import { checkSchema } from './db/check-schema.js';
import { createPool } from './db/pool.js';
import { termLockKey } from './db/term-lock.js';
import { createElector } from './election/create-elector.js';
import type { Elector } from './election/elector.js';
import type { Handlers } from './executor/handler.js';
import { loadHandlersModule, withBuiltins } from './executor/load-handlers.js';
import { LeadershipGate } from './leadership-gate.js';
import { HttpServer } from './observability/http-server.js';
import { createLogger, type Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { ReplicaHeartbeat } from './replica-heartbeat.js';

/** Claim-path statements (claims wait up to lock_timeout = 2 s for the barrier) answer within this. */
const DATABASE_TIMEOUT_MS = 5_000;

export interface WorkerOptions {
  /** Settings by name (see SETTINGS); strings are parsed as the environment's would be. */
  config: ConfigInput;
  /** Handlers by kind, added to the built-in `http` one (and to HANDLERS_MODULE's, which they override). */
  handlers?: Handlers;
  logger?: Logger;
}

/**
 * One replica: config -> logger -> pool -> elector -> gate. Constructing it validates the config and does no
 * I/O; start() connects and campaigns; stop() drains, resigns and disconnects. stop() is safe before start()
 * and twice.
 */
export class Worker {
  readonly config: Config;
  readonly log: Logger;
  private pool: pg.Pool | undefined;
  private electionPool: pg.Pool | undefined;
  private elector: Elector | undefined;
  private gate: LeadershipGate | undefined;
  private http: HttpServer | undefined;
  private heartbeat: ReplicaHeartbeat | undefined;
  /** This replica's Prometheus metrics, its own (served on /metrics when HTTP_PORT is set). */
  readonly metrics = new Metrics();
  private started = false;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: WorkerOptions) {
    this.config = resolveConfig(options.config);
    this.log = options.logger ?? createLogger(this.config.logLevel, this.config.replicaId);
  }

  async start(): Promise<void> {
    if (this.started || this.stopping) return;
    this.started = true;
    const c = this.config;
    // Renewals get connections of their own, so that busy claim transactions cannot starve them.
    const electionPool = createPool({ databaseUrl: c.databaseUrl, max: 2, applicationName: `retry-worker election ${c.replicaId}`, onError: (err) => this.log.warn({ err }, 'election database connection failed') });
    this.electionPool = electionPool;
    // The backend's module (and its client library, e.g. ioredis) loads while Postgres answers the schema check.
    const elector = createElector(c, this.log, electionPool);
    elector.catch(() => undefined);
    const fromModule = c.handlersModule ? await loadHandlersModule(c.handlersModule) : {};
    // stop() during an await of start() has ended what existed then; start() creates nothing more.
    if (this.stopping) return;
    const handlers = withBuiltins({ ...fromModule, ...this.options.handlers });
    // A paused leader's claim session ends this long after its last statement; live sessions heartbeat.
    const idleInTransactionTimeoutMs = c.executionTimeoutMs + 2_000;
    const pool = createPool({
      databaseUrl: c.databaseUrl,
      max: c.maxOpenBatches + 3,
      applicationName: `retry-worker ${c.replicaId}`,
      idleInTransactionTimeoutMs,
      lockTimeoutMs: 2_000,
      connectionTimeoutMs: DATABASE_TIMEOUT_MS,
      onError: (err) => this.log.warn({ err }, 'database connection failed'),
    });
    this.pool = pool;
    try {
      await checkSchema(pool);
    } catch (err) {
      if (this.stopping) return;
      throw err;
    }
    if (this.stopping) return;
    this.gate = new LeadershipGate(pool, {
      databaseUrl: c.databaseUrl,
      pool,
      handlers,
      electionName: c.electionName,
      replicaId: c.replicaId,
      lockKey: termLockKey(c.electionName),
      concurrency: c.concurrency,
      batchSize: c.batchSize,
      maxOpenBatches: c.maxOpenBatches,
      defaultMaxAttempts: c.defaultMaxAttempts,
      executionTimeoutMs: c.executionTimeoutMs,
      heartbeatMs: Math.min(10_000, idleInTransactionTimeoutMs / 3),
      pollIntervalMs: c.pollIntervalMs,
      backoff: { baseMs: c.backoffBaseMs, maxMs: c.backoffMaxMs },
      backend: c.electionBackend,
      shutdownTimeoutMs: c.shutdownTimeoutMs,
      databaseTimeoutMs: DATABASE_TIMEOUT_MS,
      databaseGraceMs: c.leaseTtlSeconds * 1000,
      metrics: this.metrics,
      log: this.log,
    });
    this.elector = await elector;
    if (this.stopping) {
      await this.elector.stop();
      return;
    }
    this.log.info({ backend: c.electionBackend, electionName: c.electionName, leaseTtlSeconds: c.leaseTtlSeconds, kinds: Object.keys(handlers) }, 'replica started; campaigning');
    this.elector.start(this.gate.runTerm);
    this.heartbeat = new ReplicaHeartbeat({
      pool,
      electionName: c.electionName,
      replicaId: c.replicaId,
      backend: c.electionBackend,
      leadingEpoch: () => {
        const term = this.metrics.currentTerm();
        return term && !term.signal.aborted ? term.epoch : undefined;
      },
      log: this.log,
    });
    this.heartbeat.start();
    if (c.httpPort !== undefined) {
      this.http = new HttpServer({ port: c.httpPort, databaseUrl: c.databaseUrl, electionName: c.electionName, replicaId: c.replicaId, backend: c.electionBackend, metrics: this.metrics, elector: this.elector, log: this.log });
      await this.http.start();
    }
  }

  /** The health, metrics and status server, when HTTP_PORT is set and start() has run (its `port` is the bound one). */
  get httpServer(): HttpServer | undefined {
    return this.http;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.gate?.stop();
      await this.elector?.stop();
      await this.heartbeat?.stop();
      await this.pool?.end();
      await this.electionPool?.end();
      await this.http?.stop();
      this.log.info('replica stopped');
    })();
    return this.stopping;
  }
}

export function createWorker(options: WorkerOptions): Worker {
  return new Worker(options);
}
