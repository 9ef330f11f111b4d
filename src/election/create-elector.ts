import type pg from 'pg';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Logger } from '../observability/logger.js';
import type { Timings } from '../timings.js';
import { Campaign, type LeaseBackend } from './campaign.js';
import type { Elector } from './elector.js';

export interface ElectorDeps {
  config: Config;
  timings: Timings;
  log: Logger;
  clock: Clock;
  /** A small pool of the elector's own (postgres and static backends). */
  pool: pg.Pool;
}

/**
 * The one switch on the backend name. Each backend's module, and so its client library (etcd3, ioredis), is
 * loaded only when chosen. Throws ConfigError when the backend refuses a setting (etcd credentials, TLS).
 */
export async function createElector({ config, timings, log, clock, pool }: ElectorDeps): Promise<Elector> {
  const { election, replicaId } = config;
  let backend: LeaseBackend;
  switch (election.backend) {
    case 'etcd': {
      const { EtcdLease } = await import('./etcd-lease.js');
      backend = await EtcdLease.open(election, replicaId, timings);
      break;
    }
    case 'redis': {
      const { RedisLease } = await import('./redis-lease.js');
      backend = RedisLease.open(election, replicaId, timings, log);
      break;
    }
    case 'postgres': {
      const { PostgresLease } = await import('./postgres-lease.js');
      backend = new PostgresLease(pool, config.database.url, election, replicaId, timings, log);
      break;
    }
    case 'static': {
      const { StaticLease } = await import('./static-lease.js');
      backend = new StaticLease(pool, election, replicaId, timings, log);
      break;
    }
  }
  return new Campaign(backend, { timings, log, clock });
}
