import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import { withTimeout } from '../async.js';
import type { Config } from '../config.js';
import { pingDatabase } from '../db/ping-database.js';
import { createPool } from '../db/pool.js';
import { readRecentTerms } from '../db/recent-terms.js';
import type { Elector } from '../election/elector.js';
import type { Term } from '../election/term.js';
import type { KindRegistry } from '../executor/kinds.js';
import type { Timings } from '../timings.js';
import { ClusterReads } from './cluster-reads.js';
import { authorized, bearerAuthorized } from './http-auth.js';
import { kindRows } from './kind-rows.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { runPageAction } from './page-actions.js';
import { SharedRead } from './shared-read.js';
import { renderStatusPage, type StatusSnapshot, statusPageCsp } from './status-page.js';

export interface HttpServerOptions {
  config: Config;
  timings: Timings;
  metrics: Metrics;
  elector: Pick<Elector, 'ping'>;
  /** The term this replica executes now (the leadership gate's answer). */
  executing: () => Term | undefined;
  /** Executions running on this replica now, by kind. */
  executingByKind: () => ReadonlyMap<string, number>;
  /** The kinds this replica knows, for their limits. */
  kinds: KindRegistry;
  log: Logger;
}

export interface Readiness {
  ready: boolean;
  checks: { database: string; election: string; leadership: string };
}

/** How many terms the status page lists. */
const RECENT_TERMS = 10;
/** Connections served at once; more are refused until some close. */
const MAX_CONNECTIONS = 64;
/** Paths anyone may read; every other path needs the token when HTTP_TOKEN is set. */
const OPEN_PATHS = new Set(['/healthz', '/readyz']);

/**
 * The replica's HTTP face, on node:http:
 *   GET /healthz      200 while the process runs
 *   GET /readyz       200 when the database answers SELECT 1 and the election backend a ping (each within
 *                     readinessCheckTimeoutMs) and, if this replica leads, its term is still safe; else 503.
 *                     Probes share one check per readinessMaxAgeMs, so a flood of them cannot compete with
 *                     lease renewals for connections
 *   GET /metrics      Prometheus text of the replica's registry
 *   GET /             HTML status page; GET /status.json is the same snapshot as JSON
 * With HTTP_TOKEN set, every path but /healthz and /readyz needs `Authorization: Bearer <token>` (or HTTP Basic
 * with the token as the password, which a browser asks for). Header and request timeouts and a connection
 * cap bound what a client can hold. Status reads use a pool of their own, never the claim pool.
 * start() and stop() are safe twice; stop() is safe before start().
 */
export class HttpServer {
  private server: Server | undefined;
  private pool: pg.Pool | undefined;
  private stopping: Promise<void> | undefined;
  private readonly readinessRead: SharedRead<Readiness>;
  private reads: ClusterReads | undefined;
  private readonly log: Logger;

  constructor(private readonly options: HttpServerOptions) {
    this.log = options.log.child({ component: 'http' });
    this.readinessRead = new SharedRead(
      () => this.checkReadiness(),
      options.timings.readinessMaxAgeMs,
      (err) => ({
        ready: false,
        checks: { database: 'unknown', election: 'unknown', leadership: `failed: ${String(err)}` },
      }),
    );
  }

  /** The bound port once listening. */
  get port(): number | undefined {
    const address = this.server?.address();
    return address && typeof address === 'object' ? (address as AddressInfo).port : undefined;
  }

  async start(): Promise<void> {
    if (this.server || this.stopping) return;
    const { config } = this.options;
    const pool = createPool({
      databaseUrl: config.database.url,
      max: 2,
      applicationName: `retry-worker http ${config.replicaId}`,
      session: { statement_timeout: 2_000 },
      onError: (err) => this.log.debug({ err }, 'status database connection failed'),
    });
    this.pool = pool;
    this.reads = new ClusterReads(pool, 1_000, () => this.options.metrics.clusterReadFailed());
    this.options.metrics.observeState({ cluster: this.reads });
    const server = createServer(
      { requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000, connectionsCheckingInterval: 1_000 },
      (req, res) => void this.handle(req, res),
    );
    server.maxConnections = MAX_CONNECTIONS;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.http.port, config.http.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.warn({ err }, 'http server error'));
    this.log.info(
      { port: this.port, host: config.http.host ?? 'every interface', token: config.http.token !== undefined },
      'http server listening',
    );
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.options.metrics.observeState({ cluster: undefined });
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

  /** The readiness checks, shared by every probe within readinessMaxAgeMs. */
  readiness(): Promise<Readiness> {
    return this.readinessRead.get();
  }

  private async checkReadiness(): Promise<Readiness> {
    const { elector, executing, timings } = this.options;
    const check = async (run: () => Promise<void>, what: string): Promise<string> => {
      try {
        await withTimeout(run(), timings.readinessCheckTimeoutMs, what);
        return 'ok';
      } catch (err) {
        return `failed: ${err instanceof Error ? err.message : String(err)}`;
      }
    };
    const [database, election] = await Promise.all([
      check(() => pingDatabase(this.pool!), 'database SELECT 1'),
      check(() => elector.ping(), 'election backend ping'),
    ]);
    const term = executing();
    const leadership =
      term === undefined
        ? 'ok: following'
        : term.isSafe()
          ? 'ok: leading'
          : `failed: leading, but the term is no longer safe (${term.endReason ?? 'lease not renewed in time'})`;
    const ready = database === 'ok' && election === 'ok' && leadership.startsWith('ok');
    return { ready, checks: { database, election, leadership } };
  }

  /** What the status page shows, from memory and two cheap reads. */
  async snapshot(): Promise<StatusSnapshot> {
    const { config, executing, timings } = this.options;
    const [queue, kinds, recentTerms] = await Promise.all([
      this.reads?.queue.get(),
      this.reads?.kinds.get(),
      withTimeout(
        readRecentTerms(this.pool!, config.election.name, RECENT_TERMS),
        timings.readinessCheckTimeoutMs * 2,
        'recent terms',
      ).catch((err: unknown) => {
        this.log.debug({ err }, 'could not read recent terms');
        return undefined;
      }),
    ]);
    const term = executing();
    const open = recentTerms?.find((t) => t.endedAt === null);
    const leader = term
      ? {
          holder: config.replicaId,
          epoch: term.epoch,
          since: open?.epoch === term.epoch ? open.startedAt.toISOString() : null,
        }
      : open
        ? { holder: open.holder, epoch: open.epoch, since: open.startedAt.toISOString() }
        : null;
    return {
      replicaId: config.replicaId,
      backend: config.election.backend,
      electionName: config.election.name,
      generatedAt: new Date().toISOString(),
      thisReplica: {
        leading: term !== undefined,
        epoch: term?.epoch ?? null,
        safeForMs: term ? Math.max(0, Math.round(term.remainingMs())) : null,
      },
      leader,
      queue: queue ?? null,
      kinds: kinds ? kindRows(kinds, this.options.executingByKind(), this.options.kinds) : null,
      recentExecutions: this.options.metrics.recent.list(),
      recentTerms: recentTerms ?? null,
      actions: config.http.token !== undefined,
      dispatch: this.options.metrics.dispatch.snapshot(),
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (req.method === 'POST' && path.startsWith('/actions/')) return await this.action(req, res, path);
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow: 'GET, HEAD' });
      if (!OPEN_PATHS.has(path) && !authorized(req, this.options.config.http.token)) {
        return send(res, 401, 'text/plain; charset=utf-8', 'unauthorized: send Authorization: Bearer <HTTP_TOKEN>\n', {
          'www-authenticate': 'Basic realm="retry-worker", charset="UTF-8"',
        });
      }
      const token = this.options.config.http.token;
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
          return send(res, 200, 'text/html; charset=utf-8', renderStatusPage(await this.snapshot()), {
            'content-security-policy': statusPageCsp(token !== undefined),
          });
        default:
          return send(
            res,
            404,
            'text/plain; charset=utf-8',
            'not found; try /, /healthz, /readyz, /metrics or /status.json\n',
          );
      }
    } catch (err) {
      this.log.warn({ err, path: req.url?.split('?')[0] }, 'http request failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    }
  }

  /** POST /actions/...: only with HTTP_TOKEN set, and only with the token as a Bearer header (http-auth.ts). */
  private async action(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const token = this.options.config.http.token;
    const json = (status: number, body: unknown) => send(res, status, 'application/json', `${JSON.stringify(body)}\n`);
    if (token === undefined) return json(404, { error: 'page actions are available only when HTTP_TOKEN is set' });
    if (!bearerAuthorized(req, token))
      return json(401, { error: 'unauthorized: actions need Authorization: Bearer <HTTP_TOKEN>' });
    const answer = await runPageAction(this.pool!, path.slice('/actions/'.length), req, this.log);
    return json(answer.status, answer.body);
  }
}

function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': contentType,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
