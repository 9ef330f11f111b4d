import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TestCluster } from './support/cluster.js';
import { isLeading } from './support/replica.js';
import { type SecureEtcd, startSecureEtcd } from './support/secure-etcd.js';

// The service joins an etcd that requires TLS with client certificates and has auth enabled; a setting that
// etcd refuses stops start-up with one line naming it (exit 2), and the secret is never printed.

let etcd: SecureEtcd;
let cluster: TestCluster;
before(async () => {
  [etcd, cluster] = await Promise.all([startSecureEtcd(), TestCluster.start()]);
});
after(async () => {
  await cluster?.stop();
  await etcd?.stop();
});

const secured = () => ({
  ETCD_ENDPOINTS: etcd.endpoint,
  ETCD_CA_FILE: etcd.caFile,
  ETCD_CERT_FILE: etcd.certFile,
  ETCD_KEY_FILE: etcd.keyFile,
  ETCD_USERNAME: etcd.username,
  ETCD_PASSWORD: etcd.password,
});

async function refused(id: string, env: Record<string, string>): Promise<string> {
  const replica = cluster.startReplica(id, env);
  const exit = await replica.exited;
  const stderr = replica.stderr.join('');
  assert.equal(exit.code, 2, stderr);
  // Node's own warnings aside: grpc-js sets the TLS server name to an IP address endpoint, which Node 20
  // warns about once (DEP0123); with a host name in ETCD_ENDPOINTS there is none.
  const lines = stderr.split('\n').filter((l) => l !== '' && !/^\(node:\d+\) |^\(Use `node --trace-/.test(l));
  assert.equal(lines.length, 1, `one line: ${stderr}`);
  assert.ok(!stderr.includes(etcd.password) && !stderr.includes('wrong-Pa55word'), 'no password is printed');
  return lines[0]!;
}

test('with TLS, a client certificate and etcd auth, a replica leads and executes', async () => {
  const replica = cluster.startReplica('secure-a', secured());
  await replica.waitForLog(isLeading, 30_000);
  await cluster.insertSinkRecords(5, { mode: 'ok' });
  await cluster.waitUntilSettled();
  assert.equal(cluster.sink.executions.filter((e) => e.replicaId === 'secure-a').length, 5);
  replica.signal('SIGTERM');
  assert.equal((await replica.exited).code, 0);
});

test('a wrong password stops start-up with one line naming ETCD_PASSWORD', async () => {
  const line = await refused('secure-b', { ...secured(), ETCD_PASSWORD: 'wrong-Pa55word' });
  assert.match(line, /ETCD_PASSWORD: etcd refused ETCD_USERNAME and ETCD_PASSWORD/);
});

test('a server certificate the CA does not vouch for stops start-up with one line naming ETCD_CA_FILE', async () => {
  const line = await refused('secure-c', { ...secured(), ETCD_CA_FILE: etcd.otherCaFile });
  assert.match(line, /ETCD_CA_FILE: the etcd server at 127\.0\.0\.1:\d+ has a certificate this CA does not vouch for/);
});

test(
  'no client certificate, where the server requires one,' + ' stops start-up with one line naming ETCD_CERT_FILE',
  async () => {
    const { ETCD_CERT_FILE: _cert, ETCD_KEY_FILE: _key, ...withoutCertificate } = secured();
    const line = await refused('secure-d', withoutCertificate);
    assert.match(
      line,
      /ETCD_CERT_FILE: the etcd server at 127\.0\.0\.1:\d+ refused a connection without a client certificate/,
    );
  },
);

test('a certificate file that cannot be read stops start-up naming the setting', async () => {
  const line = await refused('secure-e', { ...secured(), ETCD_KEY_FILE: '/nonexistent/key.pem' });
  assert.match(line, /ETCD_KEY_FILE: cannot read "\/nonexistent\/key.pem" \(ENOENT\)/);
});
