import { readFile } from 'node:fs/promises';
import { ConsecutiveBreaker, circuitBreaker, handleWhen, retry } from 'cockatiel';
import { Etcd3, EtcdAuthenticationFailedError, type IKeyValue, isRecoverableError, type Watcher } from 'etcd3';
import { sleep, withTimeout } from '../async.js';
import type { ElectionConfig } from '../config.js';
import { ConfigError } from '../errors.js';
import type { Timings } from '../timings.js';
import type { LeaseBackend, Lost, Won } from './campaign.js';
import { probeEtcdTls } from './etcd-tls-probe.js';
import type { HeldLease } from './hold-term.js';

/** The leader key of an election. */
function etcdLeaderKey(electionName: string): string {
  return `retry-worker/${electionName}/leader`;
}

/**
 * Scheme II of the design note on etcd (through the `etcd3` client's lease, KV, transaction and watch APIs;
 * not its Election class, which fires `elected` after `resign()` and after a lost lease):
 *
 * - try: grant a lease, then one transaction puts the key with the lease only if its create revision is 0.
 *   The epoch is the transaction's revision, which is the key's create revision: it grows with every new key.
 *   A loser revokes its unused lease and watches the key for deletion (re-reading it every TTL).
 * - renew: one keepalive on a stream of its own, so that the reply answers that request, with a read of the
 *   key beside it: a renewal counts only while the key is still the one this term created (a watch can miss
 *   a deletion if its stream dies silently; that read cannot).
 * - guard: a watch on our own key ends the term the moment it is deleted.
 * - release: revoke the lease, which deletes the key, so a follower leads at once.
 * Every unary call has a deadline; a call to a member that does not answer moves on to the next member.
 */
export class EtcdLease implements LeaseBackend {
  readonly name = 'etcd';
  private readonly key: string;
  private readonly keyBuffer: Buffer;

  private constructor(
    private readonly client: Etcd3,
    private readonly config: ElectionConfig,
    private readonly replicaId: string,
    private readonly timings: Timings,
  ) {
    this.key = etcdLeaderKey(config.name);
    this.keyBuffer = Buffer.from(this.key);
  }

  /**
   * Reads the TLS files, connects, and makes one read: a setting etcd refuses (a wrong password, a server
   * certificate the CA does not vouch for, a missing client certificate) throws ConfigError naming it. An etcd
   * that is merely unreachable does not: the campaign keeps trying.
   */
  static async open(config: ElectionConfig, replicaId: string, timings: Timings): Promise<EtcdLease> {
    const { etcd } = config;
    const [ca, cert, key] = await Promise.all([
      readPem('ETCD_CA_FILE', etcd.caFile),
      readPem('ETCD_CERT_FILE', etcd.certFile),
      readPem('ETCD_KEY_FILE', etcd.keyFile),
    ]);
    if (ca) await probeEtcdTls(etcd.endpoints, { ca, cert, key }, timings.electionCallTimeoutMs);
    const client = new Etcd3({
      hosts: [...etcd.endpoints],
      ...(ca
        ? { credentials: { rootCertificate: ca, ...(cert && key ? { certChain: cert, privateKey: key } : {}) } }
        : {}),
      ...(etcd.username && etcd.password ? { auth: { username: etcd.username, password: etcd.password } } : {}),
      dialTimeout: timings.electionCallTimeoutMs,
      defaultCallOptions: (context) =>
        context.isStream ? {} : { deadline: Date.now() + timings.electionCallTimeoutMs },
      faultHandling: {
        // A member that failed three calls in a row is skipped for a second, then tried again.
        host: () =>
          circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1_000, breaker: new ConsecutiveBreaker(3) }),
        // A call that a member could not answer moves on to the next member.
        global: retry(handleWhen(isRecoverableError), { maxAttempts: Math.max(1, etcd.endpoints.length - 1) }),
      },
    });
    const lease = new EtcdLease(client, config, replicaId, timings);
    try {
      await lease.ping();
    } catch (err) {
      if (err instanceof EtcdAuthenticationFailedError) {
        client.close();
        throw new ConfigError(
          'ETCD_PASSWORD',
          `etcd refused ETCD_USERNAME and ETCD_PASSWORD (authentication failed)` +
            `; expected the credentials of an etcd user`,
          { cause: err },
        );
      }
      // Unreachable for now: the campaign retries and says so.
    }
    return lease;
  }

  async tryToWin(token: string): Promise<Won | Lost> {
    void token; // the term's token lives beside its epoch in Postgres; the key's value names the replica
    const grant = await this.client.leaseClient.leaseGrant({ TTL: this.config.leaseTtlSeconds, ID: 0 });
    const leaseId = grant.ID;
    let txn: Awaited<ReturnType<Etcd3['kv']['txn']>>;
    try {
      txn = await this.client.kv.txn({
        compare: [{ key: this.keyBuffer, result: 'Equal', target: 'Create', create_revision: 0 }],
        success: [{ request_put: { key: this.keyBuffer, value: Buffer.from(this.replicaId), lease: leaseId } }],
        failure: [{ request_range: { key: this.keyBuffer } }],
      });
    } catch (err) {
      void this.revoke(leaseId);
      throw err;
    }
    if (txn.succeeded) {
      const epoch = Number(txn.header.revision);
      return { won: true, epoch, grantedMs: Number(grant.TTL) * 1000, lease: this.held(leaseId, epoch) };
    }
    void this.revoke(leaseId);
    const holder = txn.responses[0]?.response_range?.kvs[0];
    return {
      won: false,
      holder: holder ? holder.value.toString() : null,
      ...(holder ? { epoch: Number(holder.create_revision) } : {}),
      retryInMs: this.timings.leaseTtlMs,
    };
  }

  /** Watches the key for its deletion, from now on (a deletion before the watch began shows in the next try). */
  async waitForChange(_lost: Lost, maxMs: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const done = new AbortController();
    const stop = () => done.abort();
    signal.addEventListener('abort', stop, { once: true });
    let watcher: Watcher | undefined;
    try {
      watcher = await withTimeout(
        this.client.watch().key(this.key).only('delete').create(),
        this.timings.electionCallTimeoutMs,
        'watching the leader key',
        (late) => void late.cancel().catch(() => undefined),
      );
      watcher.on('delete', stop);
      watcher.on('error', stop);
      // The key may have gone between the try and the watch: look once.
      const { kvs } = await this.client.kv.range({ key: this.keyBuffer });
      if (kvs.length === 0) stop();
      await sleep(maxMs, done.signal);
    } catch {
      await sleep(Math.min(maxMs, this.timings.followerPollMs), done.signal);
    } finally {
      signal.removeEventListener('abort', stop);
      if (watcher) void watcher.cancel().catch(() => undefined);
    }
  }

  async ping(): Promise<void> {
    await this.client.kv.range({ key: this.keyBuffer });
  }

  async close(): Promise<void> {
    this.client.close();
  }

  private held(leaseId: string, epoch: number): HeldLease {
    return {
      renew: async () => {
        const [ttlMs, current] = await Promise.all([this.keepAliveOnce(leaseId), this.read()]);
        return current !== undefined && Number(current.create_revision) === epoch ? ttlMs : 0;
      },
      release: async () => {
        await this.client.leaseClient.leaseRevoke({ ID: leaseId });
      },
      guard: (onLost) => {
        let watcher: Watcher | undefined;
        let stopped = false;
        this.client
          .watch()
          .key(this.key)
          .startRevision(String(epoch))
          .only('delete')
          .create()
          .then((w) => {
            watcher = w;
            if (stopped) void w.cancel().catch(() => undefined);
            else w.on('delete', onLost);
          })
          .catch(() => undefined); // the renewals' reads still see a deletion
        return () => {
          stopped = true;
          if (watcher) void watcher.cancel().catch(() => undefined);
        };
      },
    };
  }

  private async read(): Promise<IKeyValue | undefined> {
    const { kvs } = await this.client.kv.range({ key: this.keyBuffer });
    return kvs[0];
  }

  /** One keepalive on a stream of its own: the reply on it answers this request. The granted TTL in ms (0: gone). */
  private async keepAliveOnce(leaseId: string): Promise<number> {
    const stream = await withTimeout(
      this.client.leaseClient.leaseKeepAlive(),
      this.timings.electionCallTimeoutMs,
      'opening a keepalive stream',
      (late) => late.cancel(),
    );
    try {
      const reply = new Promise<number>((resolve, reject) => {
        stream.on('data', (res) => resolve(Number(res.TTL) * 1000));
        stream.on('error', reject);
        stream.on('end', () => reject(new Error('the keepalive stream ended without a reply')));
      });
      stream.write({ ID: leaseId });
      return await withTimeout(reply, this.timings.electionCallTimeoutMs, 'lease keepalive');
    } finally {
      stream.cancel();
    }
  }

  private async revoke(leaseId: string): Promise<void> {
    await this.client.leaseClient.leaseRevoke({ ID: leaseId }).catch(() => undefined); // it expires by itself
  }
}

async function readPem(variable: string, path: string | undefined): Promise<Buffer | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path);
  } catch (err) {
    throw new ConfigError(
      variable,
      `cannot read ${JSON.stringify(path)} (${(err as NodeJS.ErrnoException).code ?? 'error'})` +
        `; expected a readable PEM file`,
      { cause: err },
    );
  }
}
