import type { Config } from '../config.js';
import type { Logger } from '../observability/logger.js';
import type { Elector } from './elector.js';
import { EtcdElector } from './etcd-elector.js';

/** The one switch on the backend name. */
export function createElector(config: Config, log: Logger): Elector {
  switch (config.electionBackend) {
    case 'etcd':
      return new EtcdElector({
        endpoints: config.etcdEndpoints,
        electionName: config.electionName,
        leaseTtlSeconds: config.leaseTtlSeconds,
        replicaId: config.replicaId,
        log,
      });
  }
}
