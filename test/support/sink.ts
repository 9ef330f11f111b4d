import { createServer, type IncomingMessage, type Server } from 'node:http';

/** What a sink request asks the sink to do, sent as the record's http body. */
export type SinkBehaviour =
  | { mode: 'ok'; delayMs?: number }
  | { mode: 'fail-until'; succeedOnAttempt: number; delayMs?: number }
  | { mode: 'always-fail'; delayMs?: number }
  | { mode: 'permanent'; delayMs?: number };

export interface Execution {
  recordId: number;
  attempt: number;
  epoch: number;
  replicaId: string;
  /** Milliseconds on this process's clock (performance.timeOrigin + now). */
  start: number;
  end: number;
  status: number;
  /** The sink refused it: its fencing token was below one it had already accepted. */
  refused: boolean;
}

const now = () => performance.timeOrigin + performance.now();

/**
 * An HTTP sink on loopback that the records' built-in `http` handler calls. It keeps its own record of every
 * execution (start, end, headers), so the evidence comes from outside the worker.
 */
export class Sink {
  readonly executions: Execution[] = [];
  private highestEpoch = 0;
  private server: Server | undefined;
  private port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req).then(({ status }) => {
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : `status ${status}`);
    }));
    this.server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/exec`;
  }

  /** A payload for an `http` record that calls this sink with `behaviour`. */
  payload(behaviour: SinkBehaviour): object {
    return { url: this.url, method: 'POST', body: behaviour };
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage): Promise<{ status: number }> {
    const start = now();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as SinkBehaviour;
    const recordId = Number(String(req.headers['idempotency-key']).replace('failed-record-', ''));
    const attempt = Number(req.headers['x-retry-attempt']);
    const epoch = Number(req.headers['x-fencing-token']);
    const replicaId = String(req.headers['x-replica-id']);
    // A downstream that honours X-Fencing-Token refuses a stale leader's request, as the design asks of them.
    const refused = epoch < this.highestEpoch;
    this.highestEpoch = Math.max(this.highestEpoch, epoch);
    if (refused) {
      this.executions.push({ recordId, attempt, epoch, replicaId, start, end: now(), status: 409, refused });
      return { status: 409 };
    }
    await new Promise((r) => setTimeout(r, body.delayMs ?? 5));
    let status = 200;
    if (body.mode === 'fail-until' && attempt < body.succeedOnAttempt) status = 500;
    if (body.mode === 'always-fail') status = 503;
    if (body.mode === 'permanent') status = 422;
    this.executions.push({ recordId, attempt, epoch, replicaId, start, end: now(), status, refused });
    return { status };
  }
}

export interface EvidenceReport {
  overlaps: { recordId: number; a: Execution; b: Execution }[];
  replicasPerEpoch: Map<number, Set<string>>;
  termOverlaps: { earlier: number; later: number; overlapMs: number }[];
}

/**
 * Checks the sink's record of the executions it accepted: no two executions of one record overlap; one
 * replica per epoch; terms in order. (Refused ones had no effect: the fencing token stopped them.)
 */
export function checkEvidence(all: readonly Execution[]): EvidenceReport {
  const executions = all.filter((e) => !e.refused);
  const byRecord = new Map<number, Execution[]>();
  for (const e of executions) byRecord.set(e.recordId, [...(byRecord.get(e.recordId) ?? []), e]);
  const overlaps: EvidenceReport['overlaps'] = [];
  for (const [recordId, list] of byRecord) {
    const sorted = [...list].sort((x, y) => x.start - y.start);
    for (let i = 1; i < sorted.length; i++) if (sorted[i]!.start < sorted[i - 1]!.end) overlaps.push({ recordId, a: sorted[i - 1]!, b: sorted[i]! });
  }
  const replicasPerEpoch = new Map<number, Set<string>>();
  const spans = new Map<number, { start: number; end: number }>();
  for (const e of executions) {
    replicasPerEpoch.set(e.epoch, (replicasPerEpoch.get(e.epoch) ?? new Set()).add(e.replicaId));
    const span = spans.get(e.epoch);
    spans.set(e.epoch, span ? { start: Math.min(span.start, e.start), end: Math.max(span.end, e.end) } : { start: e.start, end: e.end });
  }
  const epochs = [...spans.keys()].sort((a, b) => a - b);
  const termOverlaps: EvidenceReport['termOverlaps'] = [];
  for (let i = 1; i < epochs.length; i++) {
    const earlier = spans.get(epochs[i - 1]!)!;
    const later = spans.get(epochs[i]!)!;
    if (later.start < earlier.end) termOverlaps.push({ earlier: epochs[i - 1]!, later: epochs[i]!, overlapMs: earlier.end - later.start });
  }
  return { overlaps, replicasPerEpoch, termOverlaps };
}
