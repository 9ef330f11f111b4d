import type pg from 'pg';
import { type Clock, systemClock } from './clock.js';
import { type Config, type ConfigInput, isConfig, resolveConfig } from './config.js';
import { checkSchema } from './db/check-schema.js';
import { createPool } from './db/pool.js';
import { termLockKey } from './db/term-lock.js';
import { DispatchMode } from './dispatch/dispatch-mode.js';
import { createElector } from './election/create-elector.js';
import type { Elector } from './election/elector.js';
import type { Handlers } from './executor/handler.js';
import type { KindRegistry } from './executor/kinds.js';
import { kindRegistry, loadHandlersModule } from './executor/load-handlers.js';
import { LeadershipGate } from './leadership-gate.js';
import { HttpServer } from './observability/http-server.js';
import { createLogger, type Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { ReplicaHeartbeat } from './replica-heartbeat.js';
import { deriveTimings, leaderSessionSettings, type Timings } from './timings.js';

export interface WorkerOptions {
  /** A resolved Config (resolveConfig/loadConfig). */
  config: Config;
  /** Handlers by kind, added to the built-in `http` one (and to HANDLERS_MODULE's, which they override). */
  handlers?: Handlers;
  logger?: Logger;
  /** The clock safety deadlines are read from (tests inject one). */
  clock?: Clock;
}

/**
 * One replica: config -> logger -> pools -> elector -> gate -> heartbeat -> http. Constructing it does no
 * I/O; start() connects and campaigns; stop() drains, resigns and disconnects. stop() is safe before start()
 * and twice.
 */
export class Worker {
  readonly config: Config;
  readonly timings: Timings;
  readonly log: Logger;
  /** This replica's metrics, in a prom-client registry of its own (served on /metrics when HTTP_PORT is set). */
  readonly metrics = new Metrics();
  private readonly clock: Clock;
  private pool: pg.Pool | undefined;
  private electionPool: pg.Pool | undefined;
  private elector: Elector | undefined;
  private gate: LeadershipGate | undefined;
  private http: HttpServer | undefined;
  private heartbeat: ReplicaHeartbeat | undefined;
  private dispatchMode: DispatchMode | undefined;
  private started = false;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: WorkerOptions) {
    this.config = options.config;
    this.timings = deriveTimings(this.config);
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? createLogger(this.config.logLevel, this.config.replicaId);
  }

  async start(): Promise<void> {
    if (this.started || this.stopping) return;
    this.started = true;
    const { config: c, timings: t, log } = this;
    const session = leaderSessionSettings(t);
    // Renewals get connections of their own, so that busy claim transactions cannot starve them.
    this.electionPool = createPool({
      databaseUrl: c.database.url,
      max: 2,
      applicationName: `retry-worker election ${c.replicaId}`,
      onError: (err) => log.warn({ err }, 'election database connection failed'),
    });
    this.pool = createPool({
      databaseUrl: c.database.url,
      max: c.claim.maxOpenBatches + 3,
      applicationName: `retry-worker ${c.replicaId}`,
      session,
      connectionTimeoutMs: t.databaseTimeoutMs,
      onError: (err) => log.warn({ err }, 'database connection failed'),
    });
    const electing = createElector({ config: c, timings: t, log, clock: this.clock, pool: this.electionPool });
    // Awaited below, after the schema check: until then a rejection must not count as unhandled.
    electing.catch(() => undefined);
    let kinds: KindRegistry;
    let elector: Elector;
    try {
      const fromModule = c.handlersModule ? await loadHandlersModule(c.handlersModule, t.handlersImportTimeoutMs) : {};
      kinds = kindRegistry(c, fromModule, this.options.handlers);
      await checkSchema(this.pool, session);
      elector = await electing;
    } catch (err) {
      // An elector made but never started still holds its client: close it.
      await electing.then(
        (e) => e.stop(),
        () => undefined,
      );
      throw err;
    }
    this.elector = elector;
    // stop() during an await of start() has ended what existed then; start() creates nothing more.
    if (this.stopping) return;
    const dispatch =
      c.dispatch.mode === 'dispatch' ? new DispatchMode(c, t, kinds, this.metrics, this.clock, log) : undefined;
    this.dispatchMode = dispatch;
    const loopDeps = {
      pool: this.pool,
      databaseUrl: c.database.url,
      electionName: c.election.name,
      replicaId: c.replicaId,
      lockKey: termLockKey(c.election.name),
      claim: c.claim,
      execution: c.execution,
      retention: c.retention,
      timings: t,
      kinds,
      metrics: this.metrics,
      clock: this.clock,
    };
    const gate = new LeadershipGate(this.pool, {
      ...loopDeps,
      backend: c.election.backend,
      shutdownTimeoutMs: c.execution.shutdownTimeoutMs,
      log,
      ...(dispatch
        ? {
            termLoop: dispatch.termLoop(loopDeps),
            leadingMessage: 'leading: this replica now dispatches failed records',
          }
        : {}),
    });
    this.gate = gate;
    const executingByKind = () => dispatch?.executingByKind() ?? gate.executingByKind();
    this.metrics.observeState({ leadership: () => gate.executing, executingByKind });
    log.info(
      {
        backend: c.election.backend,
        mode: c.dispatch.mode,
        electionName: c.election.name,
        leaseTtlSeconds: c.election.leaseTtlSeconds,
        kinds: kinds.names,
      },
      'replica started; campaigning',
    );
    dispatch?.start();
    elector.start(gate.runTerm);
    this.heartbeat = new ReplicaHeartbeat({
      pool: this.pool,
      electionName: c.election.name,
      replicaId: c.replicaId,
      backend: c.election.backend,
      mode: c.dispatch.mode,
      leadingEpoch: () => gate.executing?.epoch,
      log,
    });
    this.heartbeat.start();
    if (c.http.port !== undefined) {
      this.http = new HttpServer({
        config: c,
        timings: t,
        metrics: this.metrics,
        elector,
        executing: () => gate.executing,
        executingByKind,
        kinds,
        log,
      });
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
      await this.dispatchMode?.stop(this.config.execution.shutdownTimeoutMs);
      await this.elector?.stop();
      await this.heartbeat?.stop();
      await this.http?.stop();
      await this.pool?.end();
      await this.electionPool?.end();
      this.log.info('replica stopped');
    })();
    return this.stopping;
  }
}

/** A Worker from settings by name (or a resolved Config); validates them at once, does no I/O. */
export function createWorker(options: Omit<WorkerOptions, 'config'> & { config: Config | ConfigInput }): Worker {
  const config = isConfig(options.config) ? options.config : resolveConfig(options.config);
  return new Worker({ ...options, config });
}
