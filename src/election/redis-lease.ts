import { Redis } from 'ioredis';
import type { ElectionConfig } from '../config.js';
import type { Logger } from '../observability/logger.js';
import type { Timings } from '../timings.js';
import { Waker } from '../waker.js';
import type { LeaseBackend, Lost, Won } from './campaign.js';
import type { HeldLease } from './hold-term.js';

/**
 * The keys of one election. `{name}` is a Redis Cluster hash tag, so they share a slot (the win script touches
 * two).
 */
export function redisElectionKeys(electionName: string): { leader: string; epoch: string; released: string } {
  return {
    leader: `retry-worker:{${electionName}}:leader`,
    epoch: `retry-worker:{${electionName}}:epoch`,
    released: `retry-worker:{${electionName}}:released`,
  };
}

/**
 * Win, atomically: only when the leader key is absent, INCR the epoch counter, then
 * `SET leader "<replicaId>:<epoch>:<token>" NX PX ttl`. Returns the epoch (an integer) when we won, else the
 * current holder's value (a string). INCR and SET share one script: with two round trips a candidate could
 * INCR, stall, and SET after a later-numbered term came and went, leading with a smaller epoch.
 */
const WIN = `
local holder = redis.call('GET', KEYS[1])
if holder then return holder end
local epoch = redis.call('INCR', KEYS[2])
local ok = redis.call('SET', KEYS[1], ARGV[1] .. ':' .. epoch .. ':' .. ARGV[3], 'NX', 'PX', ARGV[2])
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

/** Compare-and-delete, then tell the followers (ARGV[2] is the channel). */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[1])
  return 1
end
return 0
`;

/**
 * Scheme I of the design note: a Redis key with a TTL, won with SET NX PX in a script that also INCRs the
 * epoch, kept with compare-and-extend and given back with compare-and-delete, which publishes the release so
 * that followers try at once (else every min(500 ms, TTL/4)). Commands have a timeout, and a command whose
 * reply was lost is never resent (its outcome is unknown).
 *
 * The epoch grows as long as Redis keeps its writes. A failover to a replica that lost the last INCR can hand
 * an epoch out again; the term's token, stored beside the epoch in Postgres, tells the two terms apart, and
 * the fence refuses the second.
 */
export class RedisLease implements LeaseBackend {
  readonly name = 'redis';
  private readonly keys: ReturnType<typeof redisElectionKeys>;
  private readonly ttlMs: number;
  private readonly client: Redis;
  private readonly subscriber: Redis;
  private readonly released = new Waker();

  private constructor(
    config: ElectionConfig,
    private readonly replicaId: string,
    private readonly timings: Timings,
    private readonly log: Logger,
  ) {
    this.keys = redisElectionKeys(config.name);
    this.ttlMs = timings.leaseTtlMs;
    this.client = new Redis(config.redisUrl, {
      lazyConnect: true,
      connectTimeout: Math.max(1_000, timings.electionCallTimeoutMs),
      commandTimeout: timings.electionCallTimeoutMs,
      // Reconnect quickly until close(); commands meanwhile wait in the offline queue, bounded by commandTimeout.
      retryStrategy: (times) => Math.min(100 * times, 1_000),
      maxRetriesPerRequest: 1,
      autoResendUnfulfilledCommands: false,
      connectionName: `retry-worker:${replicaId}`,
    });
    let lastError: string | undefined;
    this.client.on('error', (err: Error) => {
      if (err.message !== lastError) log.warn({ err }, 'redis connection error');
      lastError = err.message;
    });
    this.client.on('ready', () => {
      if (lastError !== undefined) log.info('redis connection ready again');
      lastError = undefined;
    });
    this.subscriber = this.client.duplicate();
    this.subscriber.on('error', () => undefined); // the main connection logs; polling covers a lost subscription
    this.subscriber.on('message', () => this.released.wake());
  }

  /** Creates the clients and subscribes to releases (in the background: polling covers a failed subscription). */
  static open(config: ElectionConfig, replicaId: string, timings: Timings, log: Logger): RedisLease {
    const lease = new RedisLease(config, replicaId, timings, log);
    lease.subscriber
      .subscribe(lease.keys.released)
      .catch((err: unknown) => lease.log.debug({ err }, 'could not subscribe to releases; polling only'));
    return lease;
  }

  async tryToWin(token: string): Promise<Won | Lost> {
    const reply = await this.client.eval(WIN, 2, this.keys.leader, this.keys.epoch, this.replicaId, this.ttlMs, token);
    if (typeof reply === 'number')
      return {
        won: true,
        epoch: reply,
        grantedMs: this.ttlMs,
        lease: this.held(`${this.replicaId}:${reply}:${token}`),
      };
    const [holder, epoch] = String(reply).split(':');
    return {
      won: false,
      holder: holder ?? null,
      ...(epoch ? { epoch: Number(epoch) } : {}),
      retryInMs: this.timings.followerPollMs,
    };
  }

  waitForChange(_lost: Lost, maxMs: number, signal: AbortSignal): Promise<void> {
    return this.released.wait(maxMs, signal);
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  async close(): Promise<void> {
    this.subscriber.disconnect();
    this.client.disconnect();
  }

  private held(value: string): HeldLease {
    return {
      // 0 when the key expired, was deleted (say by a failover) or holds another value.
      renew: async () =>
        Number(await this.client.eval(RENEW, 1, this.keys.leader, value, this.ttlMs)) === 1 ? this.ttlMs : 0,
      release: async () => {
        await this.client.eval(RELEASE, 1, this.keys.leader, value, this.keys.released);
      },
    };
  }
}
