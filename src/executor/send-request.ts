import { Agent as HttpAgent, type IncomingMessage, type OutgoingHttpHeaders, request } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { ExecutionAborted } from '../errors.js';
import type { ResolvedAddress } from './target-policy.js';

export interface OutgoingRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: OutgoingHttpHeaders;
  readonly body: Buffer | undefined;
  /** `user:password` for Basic authentication, taken from the payload's URL. */
  readonly auth: string | undefined;
}

/** Keep-alive connection pools of one handler: every socket in them was opened to an address its policy checked. */
export class ConnectionPools {
  private http: HttpAgent | undefined;
  private https: HttpsAgent | undefined;

  /** Created on first use (no work at import time); idle sockets do not keep the process alive. */
  for(url: URL): HttpAgent {
    const options = { keepAlive: true, scheduling: 'lifo' as const, timeout: 5_000 };
    if (url.protocol === 'https:') return (this.https ??= new HttpsAgent(options));
    return (this.http ??= new HttpAgent(options));
  }
}

/**
 * A `lookup` for http.request that answers only with the addresses already checked, so the connection goes to
 * one of them: no second DNS query that a rebinding could answer differently.
 */
function checkedLookup(host: string, addresses: readonly ResolvedAddress[]): LookupFunction {
  return (hostname, options, callback) => {
    const family = options.family === 4 || options.family === 6 ? options.family : undefined;
    const sameHost = hostname.toLowerCase().replace(/\.$/, '') === host;
    const usable = addresses.filter((a) => sameHost && (family === undefined || a.family === family));
    if (usable.length === 0) {
      const err: NodeJS.ErrnoException = new Error(`no checked address for ${hostname}`);
      err.code = 'ENOTFOUND';
      callback(err, '', 0);
    } else if (options.all)
      callback(
        null,
        usable.map((a) => ({ address: a.address, family: a.family })),
      );
    else callback(null, usable[0]!.address, usable[0]!.family);
  };
}

/**
 * Sends one request to `req.url`, connecting only to `addresses` (the checked resolution of its `host`), and
 * resolves with the response once its head arrived; the body is left unread. Rejects with the signal's reason
 * when it aborts, with the network error otherwise.
 *
 * Nothing is written until the connection is ready (TCP, and TLS for https): then `isSafe()` is asked, and
 * the request written in the same synchronous step, or not at all. So a pause or a blocked event loop during
 * the lookup or the connect cannot send it late: the resumed process's I/O callbacks run before any timer
 * could abort the signal, but `isSafe()` reads the clock.
 */
export function sendRequest(
  req: OutgoingRequest,
  host: string,
  addresses: readonly ResolvedAddress[],
  pools: ConnectionPools,
  signal: AbortSignal,
  isSafe: () => boolean,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const send = req.url.protocol === 'https:' ? httpsRequest : request;
    const outgoing = send(req.url, {
      method: req.method,
      headers: req.headers,
      agent: pools.for(req.url),
      lookup: checkedLookup(host, addresses),
      // The URL carries no credentials (errors show it): they come here, decoded.
      auth: req.auth ?? null,
    });
    const onAbort = () => outgoing.destroy(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    outgoing.once('response', (res) => {
      signal.removeEventListener('abort', onAbort);
      resolve(res);
    });
    outgoing.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(signal.aborted ? signal.reason : err);
    });
    outgoing.once('socket', (socket) => {
      const write = () => {
        if (outgoing.destroyed) return;
        if (!isSafe()) {
          outgoing.destroy(
            signal.aborted
              ? (signal.reason as Error)
              : new ExecutionAborted('rows-uncertain', 'no longer safe to send: the row lock cannot be vouched for'),
          );
          return;
        }
        outgoing.end(req.body);
      };
      // A new socket is still connecting when it is handed over; a kept-alive one is ready.
      if (socket.connecting) socket.once(req.url.protocol === 'https:' ? 'secureConnect' : 'connect', write);
      else write();
    });
  });
}

export interface Excerpt {
  readonly bytes: Buffer;
  /** The whole body was read (it fitted in the cap). */
  readonly complete: boolean;
}

/**
 * Reads at most `maxBytes` of a response body, then stops: a body that ends within the cap leaves its socket to
 * the pool; one that does not is destroyed, unread. Never rejects: an aborted or broken body gives what came.
 */
export function readExcerpt(res: IncomingMessage, maxBytes: number, signal: AbortSignal): Promise<Excerpt> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (complete: boolean) => {
      res.off('data', onData).off('end', onEnd).off('close', onClose);
      signal.removeEventListener('abort', onClose);
      if (!complete) res.destroy();
      resolve({ bytes: Buffer.concat(chunks), complete });
    };
    const onData = (chunk: Buffer) => {
      const room = maxBytes - size;
      chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
      size += Math.min(room, chunk.length);
      if (chunk.length > room) finish(false);
    };
    const onEnd = () => finish(true);
    const onClose = () => finish(false);
    if (signal.aborted) {
      finish(false);
      return;
    }
    res.on('data', onData).on('end', onEnd).on('close', onClose);
    res.on('error', () => undefined); // a broken body is the 'close' that follows
    signal.addEventListener('abort', onClose, { once: true });
  });
}
