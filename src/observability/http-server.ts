import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import { pingDatabase } from '../db/ping-database.js';
import { createPool } from '../db/pool.js';
import { readQueueStats } from '../db/queue-stats.js';
import { readRecentTerms } from '../db/recent-terms.js';
import type { Elector } from '../election/elector.js';
import { withTimeout } from '../sleep.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { renderStatusPage, type StatusSnapshot } from './status-page.js';

export interface HttpServerOptions {
  /** 0: any free port (read it from `port` once started). */
  port: number;
  /** Default: every interface, so that probes and scrapers from outside the host reach it. */
  host?: string;
  databaseUrl: string;
  electionName: string;
  replicaId: string;
  backend: string;
  metrics: Metrics;
  elector: Pick<Elector, 'ping'>;
  log: Logger;
  /** Each readiness check must answer within this (default 1000 ms). */
  checkTimeoutMs?: number;
}

export interface Readiness {
  ready: boolean;
  checks: { database: string; election: string; leadership: string };
}

/** How many terms the status page lists. */
const RECENT_TERMS = 10;

/**
 * The replica's HTTP face, on node:http:
 *   GET /healthz      200 while the process runs
 *   GET /readyz       200 when the database answers SELECT 1, the election backend answers a ping (both
 *                     within checkTimeoutMs) and, if this replica leads, its term is still safe; else 503
 *   GET /metrics      Prometheus text of the replica's own metrics (Metrics.render())
 *   GET /             HTML status page; GET /status.json is the same snapshot as JSON
 * Status reads use a pool of their own (2 connections, statement_timeout), never the claim pool.
 * start() and stop() are safe twice; stop() is safe before start().
 */
export class HttpServer {
  private server: Server | undefined;
  private pool: pg.Pool | undefined;
  private stopping: Promise<void> | undefined;
  private readonly checkTimeoutMs: number;
  private readonly log: Logger;

  constructor(private readonly options: HttpServerOptions) {
    this.checkTimeoutMs = options.checkTimeoutMs ?? 1_000;
    this.log = options.log.child({ component: 'http' });
  }

  /** The bound port once listening. */
  get port(): number | undefined {
    const address = this.server?.address();
    return address && typeof address === 'object' ? (address as AddressInfo).port : undefined;
  }

  async start(): Promise<void> {
    if (this.server || this.stopping) return;
    const { options } = this;
    const pool = createPool({
      databaseUrl: options.databaseUrl,
      max: 2,
      applicationName: `retry-worker http ${options.replicaId}`,
      statementTimeoutMs: 2_000,
      onError: (err) => this.log.debug({ err }, 'status database connection failed'),
    });
    this.pool = pool;
    options.metrics.observeQueue(() => readQueueStats(pool));
    const server = createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 5_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.warn({ err }, 'http server error'));
    this.log.info({ port: this.port }, 'http server listening');
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.options.metrics.observeQueue(undefined);
      const server = this.server;
      if (server) {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
      }
      await this.pool?.end();
      if (server) this.log.info('http server stopped');
    })();
    return this.stopping;
  }

  /** The three readiness checks, run at once, each bounded by checkTimeoutMs. */
  async readiness(): Promise<Readiness> {
    const { elector, metrics } = this.options;
    const check = async (run: () => Promise<void>, what: string): Promise<string> => {
      try {
        await withTimeout(run(), this.checkTimeoutMs, what);
        return 'ok';
      } catch (err) {
        return `failed: ${err instanceof Error ? err.message : String(err)}`;
      }
    };
    const [database, election] = await Promise.all([
      check(() => pingDatabase(this.pool!), 'database SELECT 1'),
      check(() => (elector.ping ? elector.ping() : Promise.resolve()), 'election backend ping'),
    ]);
    const term = metrics.currentTerm();
    const leadership = term === undefined ? 'ok: following' : term.isSafe() ? 'ok: leading' : `failed: leading, but the term is no longer safe (${term.endReason ?? 'lease not renewed in time'})`;
    const ready = database === 'ok' && election === 'ok' && leadership.startsWith('ok');
    return { ready, checks: { database, election, leadership } };
  }

  /** What the status page shows, from memory and two cheap reads. */
  async snapshot(): Promise<StatusSnapshot> {
    const { metrics, replicaId, backend, electionName } = this.options;
    const [queue, recentTerms] = await Promise.all([
      metrics.queueStats(),
      withTimeout(readRecentTerms(this.pool!, electionName, RECENT_TERMS), this.checkTimeoutMs * 2, 'recent terms').catch((err: unknown) => {
        this.log.debug({ err }, 'could not read recent terms');
        return undefined;
      }),
    ]);
    const term = metrics.currentTerm();
    const leading = term !== undefined && !term.signal.aborted;
    const open = recentTerms?.find((t) => t.endedAt === null);
    const leader = leading
      ? { holder: replicaId, epoch: term.epoch, since: open?.epoch === term.epoch ? open.startedAt.toISOString() : null }
      : open
        ? { holder: open.holder, epoch: open.epoch, since: open.startedAt.toISOString() }
        : null;
    return {
      replicaId,
      backend,
      electionName,
      generatedAt: new Date().toISOString(),
      thisReplica: { leading, epoch: leading ? term.epoch : null, safeForMs: leading ? Math.max(0, Math.round(term.remainingMs())) : null },
      leader,
      queue: queue ?? null,
      recentExecutions: metrics.recent.list(),
      recentTerms: recentTerms ?? null,
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow: 'GET, HEAD' });
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      switch (path) {
        case '/healthz':
          return send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
        case '/readyz': {
          const readiness = await this.readiness();
          return send(res, readiness.ready ? 200 : 503, 'application/json', `${JSON.stringify(readiness)}\n`);
        }
        case '/metrics': {
          const { contentType, body } = await this.options.metrics.render();
          return send(res, 200, contentType, body);
        }
        case '/status.json':
          return send(res, 200, 'application/json', `${JSON.stringify(await this.snapshot())}\n`);
        case '/':
          return send(res, 200, 'text/html; charset=utf-8', renderStatusPage(await this.snapshot()));
        default:
          return send(res, 404, 'text/plain; charset=utf-8', 'not found; try /, /healthz, /readyz, /metrics or /status.json\n');
      }
    } catch (err) {
      this.log.warn({ err, url: req.url }, 'http request failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    }
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
