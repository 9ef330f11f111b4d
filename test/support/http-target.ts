import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import type { FailedRecord, HandlerContext } from '../../src/executor/handler.js';

export interface ReceivedRequest {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
}

export type Responder = (req: IncomingMessage, res: ServerResponse) => void;

/** An HTTP server on a loopback address that keeps every connection and request it saw. */
export class LoopbackServer {
  readonly requests: ReceivedRequest[] = [];
  connections = 0;
  respond: Responder = (_req, res) => res.end();
  private readonly server: Server;

  constructor(private readonly host = '127.0.0.1') {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        this.requests.push({
          method: req.method,
          url: req.url,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        this.respond(req, res);
      });
    });
    this.server.on('connection', () => this.connections++);
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, this.host, resolve));
    return this;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** http://host:port */
  get origin(): string {
    return `http://${this.host}:${this.port}`;
  }

  /** Forgets what it saw and answers the next requests with `respond`. */
  reset(respond: Responder = (_req, res) => res.end()): void {
    this.requests.length = 0;
    this.connections = 0;
    this.respond = respond;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

export const RECORD_UID = '0b5f3c55-4b0e-4f1a-9d0c-8f7d7e1a2b3c';

/** Record 42's third attempt, with `payload`. */
export function httpRecord(payload: unknown): FailedRecord {
  return { id: 42, uid: RECORD_UID, kind: 'http', payload, attempt: 3, maxAttempts: 5 };
}

/** Attempt 3 in epoch 7 on replica-test; the signal aborts after `timeoutMs` unless one is given. */
export function handlerContext(signal: AbortSignal = AbortSignal.timeout(5_000)): HandlerContext {
  return {
    signal,
    isSafe: () => !signal.aborted,
    attempt: 3,
    fencingToken: 7,
    replicaId: 'replica-test',
    log: pino({ level: 'silent' }),
  };
}

/** Runs `fn` and counts the client sockets this process created meanwhile (net.connect, tls.connect, fetch). */
export async function countClientSockets(fn: () => Promise<unknown>): Promise<number> {
  let sockets = 0;
  const onSocket = () => sockets++;
  subscribe('net.client.socket', onSocket);
  try {
    await fn();
  } finally {
    unsubscribe('net.client.socket', onSocket);
  }
  return sockets;
}

/** The error `promise` rejects with (fails when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}
