/** What a dispatched record's message carries: which record, and the dispatch token its row was marked with. */
export interface DispatchMessage {
  id: number;
  uid: string;
  token: string;
  /** The dispatching leader's epoch (for logs; the consumer's fencing token is the epoch Postgres holds). */
  epoch: number;
}

/** The durable quorum queue of one group of replicas (ELECTION_NAME). */
export function queueName(electionName: string): string {
  return `retry-worker.dispatch.${electionName}`;
}

/** The queue's arguments: a quorum queue (replicated, durable; messages survive a broker restart). */
export const QUEUE_OPTIONS = { durable: true, arguments: { 'x-queue-type': 'quorum' } } as const;

export function encodeMessage(message: DispatchMessage): Buffer {
  return Buffer.from(JSON.stringify(message));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The message, or undefined if it is not one of ours (it is then acknowledged and dropped). */
export function parseMessage(content: Buffer): DispatchMessage | undefined {
  try {
    const m = JSON.parse(content.toString('utf8')) as Partial<DispatchMessage>;
    if (!Number.isSafeInteger(m.id) || !Number.isSafeInteger(m.epoch)) return undefined;
    if (typeof m.uid !== 'string' || !UUID.test(m.uid) || typeof m.token !== 'string' || !UUID.test(m.token))
      return undefined;
    return { id: m.id!, uid: m.uid, token: m.token, epoch: m.epoch! };
  } catch {
    return undefined;
  }
}
