import type pg from 'pg';
import type { Config } from '../config.js';
import type { Logger } from '../observability/logger.js';
import type { Elector } from './elector.js';
import { EtcdElector } from './etcd-elector.js';
import { PostgresElector } from './postgres-elector.js';
import { RedisElector } from './redis-elector.js';
import { StaticElector } from './static-elector.js';

/** The one switch on the backend name. `pool` is a small pool of the elector's own (postgres backend). */
export function createElector(config: Config, log: Logger, pool: pg.Pool): Elector {
  const common = { electionName: config.electionName, leaseTtlSeconds: config.leaseTtlSeconds, replicaId: config.replicaId, log };
  switch (config.electionBackend) {
    case 'etcd':
      return new EtcdElector({ ...common, endpoints: config.etcdEndpoints });
    case 'redis':
      return new RedisElector({ ...common, redisUrl: config.redisUrl });
    case 'postgres':
      return new PostgresElector({ ...common, pool, databaseUrl: config.databaseUrl });
    case 'static':
      return new StaticElector({ leaderId: config.leaderId!, epoch: config.staticEpoch, replicaId: config.replicaId, log });
  }
}
