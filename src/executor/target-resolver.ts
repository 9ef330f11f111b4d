import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { aborted } from '../async.js';
import { PermanentFailure } from '../errors.js';
import { shownUrl } from './error-text.js';
import type { OutgoingRequest } from './send-request.js';
import { parseAllowHosts, type ResolvedAddress, TargetPolicy } from './target-policy.js';

/** Resolves a host name to every address it has. */
export type HostLookup = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/** A request's host and the addresses it may be connected to: all of them checked. */
export interface CheckedTarget {
  readonly host: string;
  readonly addresses: readonly ResolvedAddress[];
}

const systemLookup: HostLookup = async (hostname) =>
  (await lookup(hostname, { all: true })).map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));

/**
 * Resolves a request's host and judges it and every address it resolved to by the policy, before anything
 * connects. A refused target is a PermanentFailure naming the host and HTTP_HANDLER_ALLOW_HOSTS; a name that
 * cannot be resolved is a plain Error (a network error: retried).
 */
export class TargetResolver {
  private readonly policy: TargetPolicy;

  constructor(
    allowHosts: readonly string[] | undefined,
    private readonly lookupHost: HostLookup = systemLookup,
  ) {
    this.policy = new TargetPolicy(allowHosts === undefined ? undefined : parseAllowHosts(allowHosts));
  }

  async resolve(req: OutgoingRequest, signal: AbortSignal): Promise<CheckedTarget> {
    const host = TargetPolicy.hostOf(req.url);
    const refused = (why: string) => new PermanentFailure(`${req.method} ${shownUrl(req.url)} refused: ${why}`);
    const family = isIP(host);
    // A name refused whatever it resolves to is refused before any DNS query.
    const byName = family === 0 ? this.policy.refusal(host, []) : undefined;
    if (byName !== undefined) throw refused(byName);
    let addresses: readonly ResolvedAddress[];
    if (family !== 0) addresses = [{ address: host, family: family === 6 ? 6 : 4 }];
    else {
      try {
        addresses = await Promise.race([
          this.lookupHost(host),
          aborted(signal).then(() => Promise.reject(signal.reason)),
        ]);
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        throw new Error(
          `${req.method} ${shownUrl(req.url)} failed: cannot resolve "${host}": ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      if (addresses.length === 0)
        throw new Error(`${req.method} ${shownUrl(req.url)} failed: "${host}" resolved to no address`);
    }
    const why = this.policy.refusal(host, addresses);
    if (why !== undefined) throw refused(why);
    return { host, addresses };
  }
}
