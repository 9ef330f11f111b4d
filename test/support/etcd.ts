import { type EtcdCluster, type EtcdMember, etcdHealthy, startEtcdCluster } from '../../src/demo/start-etcd.js';
import { waitFor } from './ports.js';

export type { EtcdCluster, EtcdMember };

const ETCD_BIN = process.env.ETCD_BIN ?? 'etcd';

/**
 * Starts a real etcd cluster of 1 or 3 members from the `etcd` binary (or ETCD_BIN), on free loopback
 * ports with temporary data dirs (the demo's starter). stop() kills every member it started, by PID, and
 * removes the dirs.
 */
export async function startEtcd(
  size: 1 | 3 = 1,
  options: { extraClientHosts?: readonly string[] } = {},
): Promise<EtcdCluster> {
  // A port found free can be taken (by an outgoing connection's ephemeral port) before etcd binds it:
  // try again on fresh ports when that is what went wrong.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEtcdCluster({ binary: ETCD_BIN, size, dirPrefix: 'rw-etcd-', ...options });
    } catch (err) {
      if (attempt >= 3 || !String((err as Error).message).includes('address already in use')) throw err;
    }
  }
}

/** Waits until every member reports healthy (after restarts). */
export async function waitForEtcdHealthy(cluster: EtcdCluster, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    'etcd cluster healthy',
    async () => (await Promise.all(cluster.members.map((m) => etcdHealthy(m.clientUrl)))).every(Boolean) || undefined,
    timeoutMs,
    100,
  );
}
