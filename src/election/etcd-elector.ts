import type { Logger } from '../observability/logger.js';
import { sleep } from '../sleep.js';
import type { Elector } from './elector.js';
import { EtcdClient, type EtcdWatch } from './etcd-client.js';
import { holdTerm } from './hold-term.js';
import { Term, monotonicNow, type MonotonicClock } from './term.js';

export interface EtcdElectorOptions {
  endpoints: readonly string[];
  electionName: string;
  leaseTtlSeconds: number;
  replicaId: string;
  log: Logger;
  clock?: MonotonicClock;
}

/**
 * Scheme II of the design note, built on etcd's lease, transaction and watch API (see etcd-client.ts; not
 * etcd3's Election, which fires `elected` after `resign()` and after a lost lease, and reports a lost lease
 * 2-3 TTLs late).
 *
 *   follower ──key absent: grant lease, txn put-if-absent──▶ leader ──term ends──▶ revoke lease ──▶ follower
 *      ▲  └──key present: watch it for deletion (and re-read every TTL)──┘
 *
 * While leading: a keepalive every TTL/3 on a fresh stream (so a reply always matches its request), with a
 * read of our key beside it, moves `safeUntil = send time + granted TTL - margin` forward on the monotonic
 * clock while the key is still ours; a timer ends the term when safeUntil passes; a watch on our own key
 * (replaced when its stream ends) ends it at once if the key is deleted. The epoch is the key's create
 * revision, which grows with every new key. Every unary call has a deadline.
 */
export class EtcdElector implements Elector {
  readonly backend = 'etcd';
  private readonly key: string;
  private readonly ttlMs: number;
  private readonly marginMs: number;
  private readonly callTimeoutMs: number;
  private readonly clock: MonotonicClock;
  private readonly log: Logger;
  private readonly stopping = new AbortController();
  private client: EtcdClient | undefined;
  private loop: Promise<void> | undefined;
  private current: Term | undefined;

  constructor(private readonly options: EtcdElectorOptions) {
    this.key = `retry-worker/${options.electionName}/leader`;
    this.ttlMs = options.leaseTtlSeconds * 1000;
    this.marginMs = Math.max(1000, this.ttlMs / 4);
    this.callTimeoutMs = Math.max(500, Math.min(2000, this.ttlMs / 4));
    this.clock = options.clock ?? monotonicNow;
    this.log = options.log.child({ component: 'election', backend: 'etcd' });
  }

  start(onTerm: (term: Term) => Promise<void>): void {
    if (this.loop || this.stopping.signal.aborted) return;
    this.client = new EtcdClient({ endpoints: this.options.endpoints, callTimeoutMs: this.callTimeoutMs });
    this.loop = this.campaign(this.client, onTerm);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.current?.end('resigned');
    await this.loop;
    this.client?.close();
  }

  /** A read of the leader key, bounded by the call deadline. */
  async ping(): Promise<void> {
    const client = this.client;
    if (!client || this.stopping.signal.aborted) throw new Error('the etcd elector is not running');
    await client.get(this.key);
  }

  private async campaign(client: EtcdClient, onTerm: (term: Term) => Promise<void>): Promise<void> {
    let backoffMs = 100;
    let lastHolder: string | undefined;
    while (!this.stopping.signal.aborted) {
      try {
        const holder = await client.get(this.key);
        const kv = holder.kv;
        if (kv) {
          if (kv.value !== lastHolder) this.log.info({ leader: kv.value, epoch: kv.createRevision }, 'following the leader');
          lastHolder = kv.value;
          await this.waitForDeletion(client, holder.revision);
        } else {
          const won = await this.tryToWin(client);
          if (won) {
            lastHolder = undefined;
            await this.lead(client, won, onTerm);
          }
        }
        backoffMs = 100;
      } catch (err) {
        if (this.stopping.signal.aborted) break;
        this.log.warn({ err, retryInMs: backoffMs }, 'etcd election attempt failed');
        await sleep(backoffMs, this.stopping.signal);
        backoffMs = Math.min(backoffMs * 2, this.ttlMs);
      }
    }
  }

  /** Grants a lease and puts the key only if it is absent. Returns the term's facts, or undefined if we lost. */
  private async tryToWin(client: EtcdClient): Promise<{ leaseId: string; epoch: number; safeUntil: number } | undefined> {
    const sentAt = this.clock();
    const grant = await client.grantLease(this.options.leaseTtlSeconds);
    const leaseId = grant.id;
    try {
      const txn = await client.putIfAbsent(this.key, this.options.replicaId, leaseId);
      if (txn.succeeded) {
        return { leaseId, epoch: txn.revision, safeUntil: sentAt + grant.ttlSeconds * 1000 - this.marginMs };
      }
    } catch (err) {
      this.revoke(client, leaseId);
      throw err;
    }
    this.revoke(client, leaseId);
    return undefined;
  }

  /** Holds the term (renewals and deadline in holdTerm) and watches our own key for deletion. */
  private async lead(client: EtcdClient, won: { leaseId: string; epoch: number; safeUntil: number }, onTerm: (term: Term) => Promise<void>): Promise<void> {
    const term = new Term(won.epoch, won.safeUntil, this.clock);
    this.current = term;
    const log = this.log.child({ epoch: term.epoch });
    log.info({ leaseTtlSeconds: this.options.leaseTtlSeconds, safeForMs: Math.round(term.remainingMs()) }, 'won the etcd election');
    if (this.stopping.signal.aborted) term.end('resigned');
    const stopGuard = this.guardOwnKey(client, term, log);
    try {
      await holdTerm({
        term,
        onTerm,
        renewEveryMs: this.ttlMs / 3,
        marginMs: this.marginMs,
        clock: this.clock,
        log,
        lease: {
          // A renewal counts only if the lease is alive and the key is still the one we created: a watch can
          // miss a deletion (its stream died silently), this read cannot.
          renew: async () => {
            const [ttlSeconds, holder] = await Promise.all([client.keepAliveOnce(won.leaseId), client.get(this.key)]);
            if (holder.kv?.createRevision !== term.epoch) this.keyGone(term, log);
            return ttlSeconds * 1000;
          },
          release: async () => {
            await client.revokeLease(won.leaseId);
            return true;
          },
        },
      });
    } finally {
      stopGuard();
      this.current = undefined;
    }
  }

  private keyGone(term: Term, log: Logger): void {
    if (term.signal.aborted) return;
    log.warn('our leader key was deleted');
    term.end('key-deleted');
  }

  /** Watches our own key for the whole term (see watchOwnKey); returns what stops it. */
  private guardOwnKey(client: EtcdClient, term: Term, log: Logger): () => void {
    const stopped = new AbortController();
    void this.watchOwnKey(client, term, log, AbortSignal.any([stopped.signal, term.signal]));
    return () => stopped.abort();
  }

  /**
   * One loop: watch our key, from its create revision the first time (so a deletion before the watch began
   * is replayed). When the watch ends or cannot start, read the key: gone, or another's, ends the term; still
   * ours, watch again from after that read. Until `done` aborts.
   */
  private async watchOwnKey(client: EtcdClient, term: Term, log: Logger, done: AbortSignal): Promise<void> {
    let from = term.epoch;
    while (!done.aborted) {
      try {
        const watch = await client.watch(this.key, from);
        const watchedAt = performance.now();
        let failed = false;
        await new Promise<void>((resolve) => {
          const end = () => {
            done.removeEventListener('abort', end);
            resolve();
          };
          watch.on('delete', () => {
            this.keyGone(term, log);
            end();
          });
          watch.on('error', (err: Error) => {
            log.warn({ err }, 'the watch of our own key ended; checking the key and watching again');
            failed = true;
            end();
          });
          if (done.aborted) end();
          else done.addEventListener('abort', end, { once: true });
        });
        watch.cancel();
        // A member that confirms watches and drops them at once must not make this a busy loop.
        if (failed && performance.now() - watchedAt < 1_000) await sleep(200, done);
      } catch (err) {
        log.warn({ err }, 'could not watch our own key; retrying');
        await sleep(200, done);
      }
      while (!done.aborted) {
        try {
          const { revision, kv } = await client.get(this.key);
          if (kv?.createRevision !== term.epoch) return this.keyGone(term, log);
          from = revision + 1;
          break;
        } catch {
          await sleep(200, done);
        }
      }
    }
  }

  /** Resolves when the leader key is deleted, after a TTL at the latest (to re-read it), or on stop. */
  private async waitForDeletion(client: EtcdClient, revision: number): Promise<void> {
    if (this.stopping.signal.aborted) return;
    const done = new AbortController();
    const stop = () => done.abort();
    this.stopping.signal.addEventListener('abort', stop, { once: true });
    let watcher: EtcdWatch | undefined;
    try {
      watcher = await client.watch(this.key, revision + 1);
      watcher.on('delete', stop);
      watcher.on('error', stop);
      await sleep(this.ttlMs, done.signal);
    } finally {
      this.stopping.signal.removeEventListener('abort', stop);
      watcher?.cancel();
    }
  }

  /** Gives a lease back, bounded by the call deadline; true when etcd confirmed. */
  private async revoke(client: EtcdClient, leaseId: string): Promise<boolean> {
    try {
      await client.revokeLease(leaseId);
      return true;
    } catch (err) {
      this.log.debug({ err, leaseId }, 'lease revoke failed; it will expire by itself');
      return false;
    }
  }
}
