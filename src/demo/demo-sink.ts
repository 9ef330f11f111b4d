import { createServer, type IncomingMessage, type Server } from 'node:http';

/** What a record asks the sink to do (the record's http body); delayMs defaults to 5. */
export type SinkBehaviour =
  | { mode: 'ok'; delayMs?: number }
  | { mode: 'fail-until'; succeedOnAttempt: number; delayMs?: number }
  | { mode: 'always-fail'; delayMs?: number }
  | { mode: 'permanent'; delayMs?: number }
  /**
   * Answers `status` (a 503 retries, a 422 is permanent) with a body of `bodyBytes` (default 4096) that is full of
   * NUL bytes, as a broken downstream may; 200 from attempt `succeedOnAttempt` on, if given.
   */
  | { mode: 'garbage'; status: 503 | 422; bodyBytes?: number; succeedOnAttempt?: number; delayMs?: number };

/** A text of `bytes` bytes, two of every seven of them NUL. */
export function nulLadenText(bytes: number): string {
  return '\u0000 bad \u0000'.repeat(Math.ceil(bytes / 7)).slice(0, bytes);
}

/** One request the sink served, on its own clock: the evidence comes from outside the worker. */
export interface SinkExecution {
  /** The record's idempotency key (its uid): one per record, never reused. */
  key: string;
  attempt: number;
  epoch: number;
  replicaId: string;
  start: number;
  /** When the sink answered: the downstream's own work, even when its caller left before. */
  end: number;
  /** When the caller hung up before the answer (e.g. its execution timeout aborted the call); the sink went on. */
  hungUpAt?: number;
  status: number;
  /** Refused: its fencing token was below one already accepted. */
  refused: boolean;
}

const now = () => performance.timeOrigin + performance.now();

/**
 * The downstream the demo's records call (and the test suite's): 200, 503 or 422 as the body asks, after
 * delayMs. It refuses fencing tokens below the highest seen (as downstreams should), and keeps every request
 * it served.
 */
export class DemoSink {
  readonly executions: SinkExecution[] = [];
  private highestEpoch = 0;
  /** Requests received and not yet answered, by replica (X-Replica-Id). */
  private readonly serving = new Map<string, number>();
  private server: Server | undefined;

  /** Listens on `host` (loopback by default), on a free port. */
  async start(host = '127.0.0.1'): Promise<void> {
    const server = createServer((req, res) => {
      const replicaId = String(req.headers['x-replica-id']);
      this.serving.set(replicaId, this.inFlightOf(replicaId) + 1);
      void this.handle(req)
        .finally(() => this.serving.set(replicaId, this.inFlightOf(replicaId) - 1))
        .then(
          ({ status, body }) =>
            res
              .writeHead(status, { 'content-type': 'text/plain' })
              .end(body ?? (status < 300 ? 'ok\n' : `status ${status}\n`)),
          () => res.writeHead(400).end('bad request\n'),
        );
    });
    server.keepAliveTimeout = 1000;
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
  }

  /** Requests received and not yet answered (their executions are not in `executions` yet). */
  get inFlight(): number {
    let n = 0;
    for (const count of this.serving.values()) n += count;
    return n;
  }

  /** Requests of one replica (its X-Replica-Id) received and not yet answered. */
  inFlightOf(replicaId: string): number {
    return this.serving.get(replicaId) ?? 0;
  }

  get url(): string {
    const address = this.server?.address();
    if (!address || typeof address !== 'object') return 'http://127.0.0.1:0/exec';
    return `http://${address.address}:${address.port}/exec`;
  }

  /** A payload for an `http` record that calls this sink with `behaviour`. */
  payload(behaviour: SinkBehaviour): object {
    return { url: this.url, method: 'POST', body: behaviour };
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body?: string }> {
    const start = now();
    let hungUpAt: number | undefined;
    const onHangUp = () => (hungUpAt ??= now());
    req.socket.once('close', onHangUp);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as SinkBehaviour;
    const key = String(req.headers['idempotency-key']);
    const attempt = Number(req.headers['x-retry-attempt']);
    const epoch = Number(req.headers['x-fencing-token']);
    const replicaId = String(req.headers['x-replica-id']);
    const refused = epoch < this.highestEpoch;
    this.highestEpoch = Math.max(this.highestEpoch, epoch);
    let status = 409;
    let text: string | undefined;
    if (!refused) {
      await new Promise((r) => setTimeout(r, body.delayMs ?? 5));
      status = 200;
      if (body.mode === 'fail-until' && attempt < body.succeedOnAttempt) status = 503;
      if (body.mode === 'always-fail') status = 503;
      if (body.mode === 'permanent') status = 422;
      if (body.mode === 'garbage' && !(body.succeedOnAttempt !== undefined && attempt >= body.succeedOnAttempt)) {
        status = body.status;
        text = nulLadenText(body.bodyBytes ?? 4096);
      }
    }
    req.socket.off('close', onHangUp);
    const answeredAt = now();
    this.executions.push({
      key,
      attempt,
      epoch,
      replicaId,
      start,
      end: answeredAt,
      ...(hungUpAt !== undefined && hungUpAt < answeredAt ? { hungUpAt } : {}),
      status,
      refused,
    });
    return text === undefined ? { status } : { status, body: text };
  }
}
