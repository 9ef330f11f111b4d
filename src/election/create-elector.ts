import type pg from 'pg';
import type { Config } from '../config.js';
import type { Logger } from '../observability/logger.js';
import type { Elector } from './elector.js';

/**
 * The one switch on the backend name. `pool` is a small pool of the elector's own (postgres backend). Each
 * backend's module, and so its client library (ioredis for Redis), is loaded only when chosen.
 */
export async function createElector(config: Config, log: Logger, pool: pg.Pool): Promise<Elector> {
  const common = { electionName: config.electionName, leaseTtlSeconds: config.leaseTtlSeconds, replicaId: config.replicaId, log };
  switch (config.electionBackend) {
    case 'etcd': {
      const { EtcdElector } = await import('./etcd-elector.js');
      return new EtcdElector({ ...common, endpoints: config.etcdEndpoints });
    }
    case 'redis': {
      const { RedisElector } = await import('./redis-elector.js');
      return new RedisElector({ ...common, redisUrl: config.redisUrl });
    }
    case 'postgres': {
      const { PostgresElector } = await import('./postgres-elector.js');
      return new PostgresElector({ ...common, pool, databaseUrl: config.databaseUrl });
    }
    case 'static': {
      const { StaticElector } = await import('./static-elector.js');
      return new StaticElector({ leaderId: config.leaderId!, epoch: config.staticEpoch, replicaId: config.replicaId, log });
    }
  }
}
