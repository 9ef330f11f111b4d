import { EventEmitter } from 'node:events';
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/**
 * The few etcd v3 calls the elector makes, over etcd's HTTP/JSON gateway (`/v3/...`, served on every client
 * URL since etcd 3.4) with Node's own http module. The gRPC client (etcd3: grpc-js, and protobufjs parsing
 * etcd's .proto files) took a third of a replica's start-up just to load, and start-up is part of every
 * failover.
 *
 * Every unary call has a deadline. A call that cannot reach its member (refused, reset, timed out, or the
 * member says it is unavailable, e.g. it lost quorum) moves on to the next endpoint, within the same deadline,
 * and later calls start from there. Keys and values are UTF-8 strings; int64s (revisions, lease ids) travel
 * as decimal strings, as the gateway writes them.
 */
export interface EtcdClientOptions {
  /** Client URLs, e.g. http://127.0.0.1:2379. */
  endpoints: readonly string[];
  callTimeoutMs: number;
}

export interface KeyValue {
  value: string;
  createRevision: number;
  lease: string;
}

/** A failed etcd call: `code` is etcd's gRPC status code when etcd answered, `status` the HTTP status. */
export class EtcdError extends Error {
  override readonly name = 'EtcdError';
  constructor(
    message: string,
    readonly code?: number,
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  /** The member could not serve the call (down, partitioned, no quorum): another member may. */
  get unreachable(): boolean {
    return this.code === undefined || this.code === GRPC_UNAVAILABLE || this.code === GRPC_DEADLINE_EXCEEDED;
  }
}

const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_UNAVAILABLE = 14;

/**
 * A watch of one key from a revision on. Emits `delete` for each deletion of the key, and `error` once when
 * the stream ends for any reason other than cancel(): the caller must then assume it missed events. Events go
 * out on a later turn of the event loop than the one that read them, in order: one that arrived together
 * with etcd's confirmation reaches the listeners attached right after `await client.watch(...)`.
 */
export class EtcdWatch extends EventEmitter<{ delete: []; error: [Error] }> {
  private cancelled = false;
  private failed = false;
  constructor(private readonly request: ClientRequest) {
    super();
  }

  /** Ends the stream at once; nothing is emitted after it. */
  cancel(): void {
    this.cancelled = true;
    this.removeAllListeners();
    this.request.destroy();
  }

  /** @internal */
  deliverDelete(): void {
    setImmediate(() => {
      if (!this.cancelled) this.emit('delete');
    });
  }

  /** @internal */
  fail(err: Error): void {
    if (this.cancelled || this.failed) return;
    this.failed = true;
    this.request.destroy();
    setImmediate(() => {
      if (!this.cancelled && this.listenerCount('error') > 0) this.emit('error', err);
    });
  }
}

export class EtcdClient {
  private readonly endpoints: readonly URL[];
  private readonly callTimeoutMs: number;
  private readonly httpAgent = new HttpAgent({ keepAlive: true });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true });
  private readonly watches = new Set<EtcdWatch>();
  private current = 0;

  constructor(options: EtcdClientOptions) {
    if (options.endpoints.length === 0) throw new TypeError('etcd: at least one endpoint is needed');
    this.endpoints = options.endpoints.map((e) => new URL(e.includes('://') ? e : `http://${e}`));
    this.callTimeoutMs = options.callTimeoutMs;
  }

  /** A linearizable read of one key. `revision` is the store's revision at the read. */
  async get(key: string): Promise<{ revision: number; kv: KeyValue | undefined }> {
    const res = (await this.call('/v3/kv/range', { key: b64(key) })) as RangeResponse;
    return { revision: Number(res.header?.revision ?? 0), kv: toKeyValue(res.kvs?.[0]) };
  }

  async grantLease(ttlSeconds: number): Promise<{ id: string; ttlSeconds: number }> {
    const res = (await this.call('/v3/lease/grant', { TTL: ttlSeconds, ID: 0 })) as { ID?: string; TTL?: string; error?: string };
    if (res.error) throw new EtcdError(`etcd lease grant: ${res.error}`);
    if (!res.ID) throw new EtcdError('etcd lease grant: the answer has no lease id');
    return { id: res.ID, ttlSeconds: Number(res.TTL ?? 0) };
  }

  /**
   * One transaction: put `key` = `value` attached to `leaseId` if the key does not exist. On success,
   * `revision` is the put's revision, which is the key's create revision.
   */
  async putIfAbsent(key: string, value: string, leaseId: string): Promise<{ succeeded: boolean; revision: number }> {
    const res = (await this.call('/v3/kv/txn', {
      compare: [{ key: b64(key), target: 'CREATE', result: 'EQUAL', create_revision: '0' }],
      success: [{ request_put: { key: b64(key), value: b64(value), lease: leaseId } }],
      failure: [],
    })) as { header?: { revision?: string }; succeeded?: boolean };
    // The gateway leaves out fields at their default: no `succeeded` means false.
    return { succeeded: res.succeeded === true, revision: Number(res.header?.revision ?? 0) };
  }

  /** Resolves once etcd has dropped the lease (and the keys attached to it); rejects if it did not. */
  async revokeLease(leaseId: string): Promise<void> {
    await this.call('/v3/lease/revoke', { ID: leaseId });
  }

  /**
   * One keepalive on a stream of its own, so the reply is this request's. Resolves with the TTL granted in
   * seconds; 0 means the lease is gone.
   */
  async keepAliveOnce(leaseId: string): Promise<number> {
    const res = (await this.call('/v3/lease/keepalive', { ID: leaseId })) as StreamMessage<{ TTL?: string }>;
    if (res.error) throw streamError('etcd keepalive', res.error);
    return Number(res.result?.TTL ?? 0);
  }

  /** Watches `key` from `startRevision` on; resolves once etcd has confirmed the watch. */
  watch(key: string, startRevision: number): Promise<EtcdWatch> {
    const body = JSON.stringify({ create_request: { key: b64(key), start_revision: String(startRevision) } });
    const endpoint = this.endpoints[this.current]!;
    return new Promise<EtcdWatch>((resolve, reject) => {
      const timer = setTimeout(() => fail(new EtcdError(`etcd watch at ${endpoint.host} was not confirmed within ${this.callTimeoutMs} ms`)), this.callTimeoutMs);
      let created = false;
      const fail = (cause: Error) => {
        const err = cause instanceof EtcdError ? cause : new EtcdError(`etcd watch at ${endpoint.host} broke off: ${cause.message}`, undefined, undefined, { cause });
        clearTimeout(timer);
        if (!created) {
          this.moveOn(endpoint);
          request.destroy();
          return reject(err);
        }
        this.watches.delete(watch);
        watch.fail(err);
      };
      const request = this.send(endpoint, '/v3/watch', body, (res) => {
        if (res.statusCode !== 200) return readAll(res).then((text) => fail(httpError('etcd watch', res.statusCode, text)), fail);
        res.setEncoding('utf8');
        let buffered = '';
        res.on('data', (chunk: string) => {
          buffered += chunk;
          for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
            const line = buffered.slice(0, end).trim();
            buffered = buffered.slice(end + 1);
            if (!line) continue;
            let message: StreamMessage<WatchResult> | null;
            try {
              message = JSON.parse(line) as StreamMessage<WatchResult> | null;
            } catch (err) {
              return fail(new EtcdError(`etcd watch at ${endpoint.host} sent something other than JSON`, undefined, undefined, { cause: err }));
            }
            onMessage(message ?? {});
          }
        });
        res.on('end', () => fail(new EtcdError('etcd watch stream ended')));
        res.on('close', () => fail(new EtcdError('etcd watch connection closed')));
        res.on('error', fail);
      });
      const watch = new EtcdWatch(request);
      // Before an answer, a failed or closed connection is an 'error' of the request (socket hang up).
      request.on('error', fail);
      const onMessage = (message: StreamMessage<WatchResult>) => {
        if (message.error) return fail(streamError('etcd watch', message.error));
        const result = message.result ?? {};
        if (result.canceled) return fail(new EtcdError(`etcd cancelled the watch: ${result.cancel_reason || `compacted at revision ${result.compact_revision}`}`));
        if (result.created && !created) {
          created = true;
          clearTimeout(timer);
          this.watches.add(watch);
          resolve(watch);
        }
        for (const event of result.events ?? []) if (event.type === 'DELETE') watch.deliverDelete();
      };
    });
  }

  /** Ends every watch and every idle connection. */
  close(): void {
    for (const watch of this.watches) watch.cancel();
    this.watches.clear();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private async call(path: string, body: object): Promise<unknown> {
    const payload = JSON.stringify(body);
    const deadline = performance.now() + this.callTimeoutMs;
    let lastError: EtcdError | undefined;
    // Every endpoint once, and at least twice in all: a kept-alive connection the member closed while idle
    // fails the first request sent on it, and a lone endpoint deserves a second try on a new connection.
    for (let tried = 0; tried < Math.max(2, this.endpoints.length); tried++) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      const endpoint = this.endpoints[this.current]!;
      try {
        return await this.unary(endpoint, path, payload, Math.ceil(left));
      } catch (err) {
        if (!(err instanceof EtcdError) || !err.unreachable) throw err;
        lastError = err;
        this.moveOn(endpoint);
      }
    }
    throw lastError ?? new EtcdError(`etcd ${path} timed out after ${this.callTimeoutMs} ms`);
  }

  private unary(endpoint: URL, path: string, payload: string, timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => request.destroy(new EtcdError(`etcd ${path} at ${endpoint.host} timed out after ${timeoutMs} ms`)), timeoutMs);
      const request = this.send(endpoint, path, payload, (res) => {
        readAll(res).then((text) => {
          clearTimeout(timer);
          if (res.statusCode !== 200) return reject(httpError(`etcd ${path} at ${endpoint.host}`, res.statusCode, text));
          try {
            // Streaming calls (keepalive) answer with one JSON message per line; we send one request.
            resolve(JSON.parse(text.split('\n', 1)[0]!) ?? {});
          } catch (err) {
            reject(new EtcdError(`etcd ${path} at ${endpoint.host} answered with something other than JSON`, undefined, res.statusCode, { cause: err }));
          }
        }, (err: Error) => {
          clearTimeout(timer);
          reject(new EtcdError(`etcd ${path} at ${endpoint.host}: the answer broke off: ${err.message}`, undefined, res.statusCode, { cause: err }));
        });
      });
      request.on('error', (err) => {
        clearTimeout(timer);
        reject(err instanceof EtcdError ? err : new EtcdError(`etcd ${path} at ${endpoint.host} failed: ${err.message}`, undefined, undefined, { cause: err }));
      });
    });
  }

  private send(endpoint: URL, path: string, payload: string, onResponse: (res: IncomingMessage) => void): ClientRequest {
    const https = endpoint.protocol === 'https:';
    const request = (https ? httpsRequest : httpRequest)(
      new URL(path, endpoint),
      { method: 'POST', agent: https ? this.httpsAgent : this.httpAgent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
      onResponse,
    );
    request.end(payload);
    return request;
  }

  /** After a failure at `endpoint`, later calls start at the next one (unless another call moved on already). */
  private moveOn(endpoint: URL): void {
    if (this.endpoints[this.current] === endpoint) this.current = (this.current + 1) % this.endpoints.length;
  }
}

interface RangeResponse {
  header?: { revision?: string };
  kvs?: RawKeyValue[];
}

interface RawKeyValue {
  value?: string;
  create_revision?: string;
  lease?: string;
}

interface WatchResult {
  created?: boolean;
  canceled?: boolean;
  cancel_reason?: string;
  compact_revision?: string;
  events?: { type?: 'PUT' | 'DELETE' }[];
}

interface StreamMessage<T> {
  result?: T;
  error?: { grpc_code?: number; code?: number; http_code?: number; message?: string };
}

function toKeyValue(raw: RawKeyValue | undefined): KeyValue | undefined {
  if (!raw) return undefined;
  return { value: Buffer.from(raw.value ?? '', 'base64').toString('utf8'), createRevision: Number(raw.create_revision ?? 0), lease: raw.lease ?? '0' };
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (text += chunk));
    res.on('end', () => resolve(text));
    res.on('error', reject);
  });
}

function httpError(what: string, status: number | undefined, text: string): EtcdError {
  // Unary calls answer {error, code, message}; streaming ones {error: {grpc_code or code, http_code, message}}.
  let body: { message?: string; error?: string | { grpc_code?: number; code?: number; message?: string }; code?: number } = {};
  try {
    body = (JSON.parse(text) as typeof body | null) ?? {};
  } catch {
    // not JSON: a proxy, or something that is not etcd, answered
  }
  const inner = typeof body.error === 'object' && body.error !== null ? body.error : undefined;
  const message = body.message ?? inner?.message ?? (typeof body.error === 'string' ? body.error : undefined) ?? `HTTP ${status}`;
  // Without etcd's own code, a server-side failure (5xx, e.g. a proxy's 502/503/504) may be this member's
  // alone: worth trying another; anything else is an answer.
  const code = body.code ?? inner?.grpc_code ?? inner?.code ?? (status !== undefined && status >= 500 ? undefined : -1);
  return new EtcdError(`${what}: ${message}`, code, status);
}

function streamError(what: string, error: NonNullable<StreamMessage<unknown>['error']>): EtcdError {
  return new EtcdError(`${what}: ${error.message ?? 'failed'}`, error.grpc_code ?? error.code ?? -1, error.http_code);
}
