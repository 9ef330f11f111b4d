import type { Redis } from 'ioredis';
import { requireIoredis } from '../lazy-modules.cjs';
import type { Logger } from '../observability/logger.js';
import { sleep } from '../sleep.js';
import { Waker } from '../waker.js';
import type { Elector } from './elector.js';
import { holdTerm } from './hold-term.js';
import { Term, monotonicNow, type MonotonicClock } from './term.js';

export interface RedisElectorOptions {
  /** e.g. redis://127.0.0.1:6379/0 (anything ioredis accepts as a URL). */
  redisUrl: string;
  electionName: string;
  leaseTtlSeconds: number;
  replicaId: string;
  log: Logger;
  clock?: MonotonicClock;
}

/** The two keys of one election. `{name}` is a Redis Cluster hash tag, so both keys share a slot (the win script touches both). */
export function redisElectionKeys(electionName: string): { leader: string; epoch: string; released: string } {
  return {
    leader: `retry-worker:{${electionName}}:leader`,
    epoch: `retry-worker:{${electionName}}:epoch`,
    released: `retry-worker:{${electionName}}:released`,
  };
}

/**
 * Win, atomically: only when the leader key is absent, INCR the epoch counter, then
 * `SET leader "<replicaId>:<epoch>" NX PX ttl`. Returns the epoch (an integer) when we won,
 * else the current holder's value (a string).
 *
 * The INCR comes BEFORE the SET so the value carries the epoch, and both run in one script: with two
 * round trips, a candidate could INCR, stall, and SET after a later-numbered term has come and gone,
 * leading with a smaller epoch. In the script, the key's existence serialises terms, so each winner's epoch
 * is higher than every earlier winner's; and losers (the key is present) burn no epochs.
 */
const WIN = `
local holder = redis.call('GET', KEYS[1])
if holder then return holder end
local epoch = redis.call('INCR', KEYS[2])
local ok = redis.call('SET', KEYS[1], ARGV[1] .. ':' .. epoch, 'NX', 'PX', ARGV[2])
if not ok then return redis.call('GET', KEYS[1]) or '' end
return epoch
`;

/** Compare-and-extend: PEXPIRE only while the key still holds our value; 0 means the term is over. */
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;

/** Compare-and-delete: DEL only while the key still holds our value, then tell the followers (ARGV[2]). */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[1])
  return 1
end
return 0
`;

/**
 * Scheme I of the design note: a Redis key with a TTL, won with SET NX PX, kept with compare-and-extend,
 * given back with compare-and-delete (both Lua scripts, so only the holder of this term's value can touch it).
 *
 *   follower ──key absent: WIN script (INCR epoch, SET NX PX)──▶ leader ──term ends──▶ compare-and-delete ──▶ follower
 *      ▲  └──key present: retry every min(500 ms, TTL/4), or at once when a release is published──┘
 *
 * While leading: RENEW every TTL/3 moves `safeUntil = send time + TTL - margin` forward on the monotonic
 * clock; a reply of 0 (the key expired, was deleted, e.g. by a failover to a replica that never saw it, or
 * holds another value) ends the term with `lease-expired`; failed renewals retry every 200 ms; a timer ends
 * the term with `deadline` when safeUntil passes. Every command has a timeout (`commandTimeout`), commands
 * whose reply was lost are not resent on reconnect (their outcome is unknown), and stop() disconnects, which
 * also ends ioredis' reconnect loop.
 *
 * The epoch comes from an INCR of `retry-worker:{name}:epoch` inside the win script (see WIN). It grows
 * strictly as long as Redis keeps its writes; a failover to a replica that lost the last INCR could hand
 * out an epoch again, which the Postgres fence (a newer epoch already recorded) then refuses.
 */
export class RedisElector implements Elector {
  readonly backend = 'redis';
  private readonly keys: { leader: string; epoch: string; released: string };
  private readonly ttlMs: number;
  private readonly marginMs: number;
  private readonly commandTimeoutMs: number;
  private readonly followIntervalMs: number;
  private readonly clock: MonotonicClock;
  private readonly log: Logger;
  private readonly stopping = new AbortController();
  private client: Redis | undefined;
  /** Subscribed to the release channel, so followers try at once after a resignation instead of at their next poll. */
  private subscriber: Redis | undefined;
  private readonly waker = new Waker();
  private loop: Promise<void> | undefined;
  private current: Term | undefined;

  constructor(private readonly options: RedisElectorOptions) {
    this.keys = redisElectionKeys(options.electionName);
    this.ttlMs = Math.round(options.leaseTtlSeconds * 1000);
    this.marginMs = Math.max(1000, this.ttlMs / 4);
    this.commandTimeoutMs = Math.max(500, Math.min(2000, this.ttlMs / 4));
    this.followIntervalMs = Math.min(500, this.ttlMs / 4);
    this.clock = options.clock ?? monotonicNow;
    this.log = options.log.child({ component: 'election', backend: 'redis' });
  }

  start(onTerm: (term: Term) => Promise<void>): void {
    if (this.loop || this.stopping.signal.aborted) return;
    const client = new (requireIoredis().Redis)(this.options.redisUrl, {
      lazyConnect: true,
      connectTimeout: Math.max(1000, this.commandTimeoutMs),
      commandTimeout: this.commandTimeoutMs,
      // Keep reconnecting (quickly) until stop() disconnects; commands meanwhile wait in the offline queue,
      // bounded by commandTimeout.
      retryStrategy: (times) => Math.min(100 * times, 1000),
      maxRetriesPerRequest: 1,
      // A command in flight when the connection dropped may or may not have run; never resend it.
      autoResendUnfulfilledCommands: false,
      enableAutoPipelining: false,
      connectionName: `retry-worker:${this.options.replicaId}`,
    });
    let lastError: string | undefined;
    client.on('error', (err: Error) => {
      if (err.message !== lastError) this.log.warn({ err }, 'redis connection error');
      lastError = err.message;
    });
    client.on('ready', () => {
      if (lastError !== undefined) this.log.info('redis connection ready again');
      lastError = undefined;
    });
    this.client = client;
    const subscriber = client.duplicate();
    subscriber.on('error', () => undefined); // the main connection logs; polling covers a lost subscription
    subscriber.on('message', () => this.waker.wake());
    subscriber.subscribe(this.keys.released).catch((err: unknown) => this.log.debug({ err }, 'could not subscribe to resignations; polling only'));
    this.subscriber = subscriber;
    this.loop = this.campaign(client, onTerm);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.current?.end('resigned');
    await this.loop;
    this.subscriber?.disconnect();
    this.client?.disconnect();
  }

  /** PING, bounded by the command timeout. */
  async ping(): Promise<void> {
    const client = this.client;
    if (!client || this.stopping.signal.aborted) throw new Error('the redis elector is not running');
    await client.ping();
  }

  private async campaign(client: Redis, onTerm: (term: Term) => Promise<void>): Promise<void> {
    let backoffMs = 100;
    let lastHolder: string | undefined;
    while (!this.stopping.signal.aborted) {
      try {
        const sentAt = this.clock();
        const reply = await client.eval(WIN, 2, this.keys.leader, this.keys.epoch, this.options.replicaId, this.ttlMs);
        backoffMs = 100;
        if (typeof reply === 'number') {
          lastHolder = undefined;
          await this.lead(client, { epoch: reply, value: `${this.options.replicaId}:${reply}`, safeUntil: sentAt + this.ttlMs - this.marginMs }, onTerm);
        } else {
          const holder = String(reply);
          if (holder !== lastHolder) this.log.info({ leader: holder }, 'following the leader');
          lastHolder = holder;
          await this.waker.wait(this.followIntervalMs, this.stopping.signal);
        }
      } catch (err) {
        if (this.stopping.signal.aborted) break;
        this.log.warn({ err, retryInMs: backoffMs }, 'redis election attempt failed');
        await sleep(backoffMs, this.stopping.signal);
        backoffMs = Math.min(backoffMs * 2, this.ttlMs);
      }
    }
  }

  /** Holds the term: compare-and-extend renewals (in holdTerm), then compare-and-delete. */
  private async lead(client: Redis, won: { epoch: number; value: string; safeUntil: number }, onTerm: (term: Term) => Promise<void>): Promise<void> {
    const term = new Term(won.epoch, won.safeUntil, this.clock);
    this.current = term;
    const log = this.log.child({ epoch: term.epoch });
    log.info({ leaseTtlSeconds: this.options.leaseTtlSeconds, safeForMs: Math.round(term.remainingMs()) }, 'won the redis election');
    if (this.stopping.signal.aborted) term.end('resigned');
    try {
      await holdTerm({
        term,
        onTerm,
        renewEveryMs: this.ttlMs / 3,
        marginMs: this.marginMs,
        clock: this.clock,
        log,
        lease: {
          // 0 when the key expired, was deleted (say by a failover) or holds another value.
          renew: async () => (Number(await client.eval(RENEW, 1, this.keys.leader, won.value, this.ttlMs)) === 1 ? this.ttlMs : 0),
          release: async () => Number(await client.eval(RELEASE, 1, this.keys.leader, won.value, this.keys.released)) === 1,
        },
      });
    } finally {
      this.current = undefined;
    }
  }
}
