import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { EtcdClient, EtcdError, type EtcdWatch } from '../src/election/etcd-client.js';
import { startEtcd, waitForEtcdHealthy, type EtcdCluster } from './support/etcd.js';
import { freePort, waitFor } from './support/ports.js';

// Our gateway client against a real etcd, checked through an independent client (etcd3, over gRPC).
let etcd: EtcdCluster;
let reference: Etcd3;
before(async () => {
  etcd = await startEtcd(1);
  reference = new Etcd3({ hosts: etcd.endpoints });
});
after(async () => {
  reference?.close();
  await etcd?.stop();
});

let keys = 0;
const freshKey = () => `client-test/${keys++}/ключ`;

test('putIfAbsent attaches the key to a lease, only once; get reads it back with its create revision', async () => {
  const client = new EtcdClient({ endpoints: etcd.endpoints, callTimeoutMs: 2000 });
  try {
    const key = freshKey();
    assert.equal((await client.get(key)).kv, undefined);
    const lease = await client.grantLease(5);
    assert.equal(lease.ttlSeconds, 5);
    const first = await client.putIfAbsent(key, 'replica-ä', lease.id);
    assert.equal(first.succeeded, true);
    const second = await client.putIfAbsent(key, 'other', lease.id);
    assert.equal(second.succeeded, false);
    const read = await client.get(key);
    assert.deepEqual(read.kv, { value: 'replica-ä', createRevision: first.revision, lease: lease.id });
    assert.ok(read.revision >= first.revision);
    const seen = await reference.get(key).exec();
    assert.equal(seen.kvs[0]!.value.toString(), 'replica-ä');
    assert.equal(Number(seen.kvs[0]!.create_revision), first.revision);
    assert.equal(seen.kvs[0]!.lease, lease.id);
  } finally {
    client.close();
  }
});

test('keepAliveOnce renews a live lease and answers 0 for a revoked one; revoking drops the key', async () => {
  const client = new EtcdClient({ endpoints: etcd.endpoints, callTimeoutMs: 2000 });
  try {
    const key = freshKey();
    const lease = await client.grantLease(3);
    await client.putIfAbsent(key, 'x', lease.id);
    assert.equal(await client.keepAliveOnce(lease.id), 3);
    await client.revokeLease(lease.id);
    assert.equal(await client.keepAliveOnce(lease.id), 0);
    assert.equal((await reference.get(key).exec()).kvs.length, 0);
    // etcd's own answer, not a transport failure: the caller learns the lease is gone and no endpoint is blamed.
    const err = await client.revokeLease(lease.id).catch((e: unknown) => e);
    assert.ok(err instanceof EtcdError);
    assert.equal(err.code, 5);
    assert.equal(err.unreachable, false);
    assert.match(err.message, /lease not found/);
  } finally {
    client.close();
  }
});

test('a watch reports the deletion of its key, whether made by another client or by a lease ending', async () => {
  const client = new EtcdClient({ endpoints: etcd.endpoints, callTimeoutMs: 2000 });
  try {
    const key = freshKey();
    await reference.put(key).value('a').exec();
    const { revision } = await client.get(key);
    const watch = await client.watch(key, revision + 1);
    let deletes = 0;
    watch.on('delete', () => deletes++);
    await reference.put(key).value('b').exec();
    await reference.delete().key(key).exec();
    await waitFor('a delete event', () => deletes === 1 || undefined);
    const lease = await client.grantLease(5);
    await client.putIfAbsent(key, 'c', lease.id);
    await client.revokeLease(lease.id);
    await waitFor('a second delete event', () => deletes === 2 || undefined);
    watch.cancel();
    await reference.put(key).value('d').exec();
    await reference.delete().key(key).exec();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(deletes, 2, 'no event after cancel()');
  } finally {
    client.close();
  }
});

test('a watch from an old revision replays a deletion that already happened', async () => {
  const client = new EtcdClient({ endpoints: etcd.endpoints, callTimeoutMs: 2000 });
  try {
    const key = freshKey();
    const put = await reference.put(key).value('a').exec();
    await reference.delete().key(key).exec();
    const watch = await client.watch(key, Number(put.header.revision));
    let deleted = false;
    watch.on('delete', () => (deleted = true));
    await waitFor('the replayed delete', () => deleted || undefined);
    watch.cancel();
  } finally {
    client.close();
  }
});

/** A TCP server that accepts connections and never answers (a member that hangs), or resets them at once. */
async function fakeMember(behaviour: 'silent' | 'reset'): Promise<{ url: string; connections: () => number; close: () => void }> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((s) => {
    connections++;
    if (behaviour === 'reset') return s.resetAndDestroy();
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

test('a failing endpoint is skipped within the same call, and later calls start at the one that answered', async () => {
  const broken = await fakeMember('reset');
  const client = new EtcdClient({ endpoints: [broken.url, ...etcd.endpoints], callTimeoutMs: 2000 });
  try {
    const key = freshKey();
    await reference.put(key).value('v').exec();
    assert.equal((await client.get(key)).kv?.value, 'v');
    assert.equal(broken.connections(), 1);
    assert.equal((await client.get(key)).kv?.value, 'v');
    assert.equal(broken.connections(), 1, 'the second call went straight to the live member');
  } finally {
    client.close();
    broken.close();
  }
});

test('a member that never answers costs one deadline: the call fails as unreachable and the next goes elsewhere', async () => {
  const silent = await fakeMember('silent');
  const client = new EtcdClient({ endpoints: [silent.url, ...etcd.endpoints], callTimeoutMs: 300 });
  try {
    const key = freshKey();
    await reference.put(key).value('v').exec();
    const err = await client.get(key).catch((e: unknown) => e);
    assert.ok(err instanceof EtcdError, String(err));
    assert.equal(err.unreachable, true);
    assert.match(err.message, /timed out after 300 ms/);
    assert.equal((await client.get(key)).kv?.value, 'v');
    const watch = await client.watch(key, 1);
    watch.cancel();
    assert.equal(silent.connections(), 1, 'only the first call went to the silent member');
  } finally {
    client.close();
    silent.close();
  }
});

/**
 * Runs `fn` with a client of a member that answers every request with `status` and `body` (a 200 stream stays
 * open, an error ends), then closes both.
 */
async function withScriptedMember(status: number, body: string, fn: (client: EtcdClient) => Promise<void>): Promise<void> {
  const server = createHttpServer((req, res) => {
    req.resume();
    res.writeHead(status, { 'content-type': 'application/json' });
    if (status === 200) res.write(body);
    else res.end(body);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const client = new EtcdClient({ endpoints: [`http://127.0.0.1:${port}`], callTimeoutMs: 2000 });
  try {
    await fn(client);
  } finally {
    client.close();
    server.closeAllConnections();
    server.close();
  }
}

test('a deletion that arrives in the same read as the watch confirmation reaches listeners attached after the await', async () => {
  // A member that confirms the watch and reports a deletion in one write, as etcd may when it replays history.
  const stream = '{"result":{"header":{"revision":"9"},"created":true}}\n{"result":{"header":{"revision":"9"},"events":[{"type":"DELETE","kv":{"key":"a2V5"}}]}}\n';
  await withScriptedMember(200, stream, async (client) => {
    const watch = await client.watch('key', 5);
    let deletes = 0;
    watch.on('delete', () => deletes++);
    await waitFor('the delete that came with the confirmation', () => deletes === 1 || undefined);
  });
});

test("a watch refused by the member rejects with the member's own error", async () => {
  await withScriptedMember(404, '{"error":"Not Found","code":5,"message":"Not Found"}\n', async (client) => {
    const err = await client.watch('key', 1).catch((e: unknown) => e);
    assert.ok(err instanceof EtcdError, String(err));
    assert.match(err.message, /etcd watch: Not Found/);
    assert.equal(err.code, 5);
  });
});

test('a watch stream that turns to garbage fails the watch with an error; the process goes on', async () => {
  await withScriptedMember(200, '{"result":{"created":true}}\n<html>proxy error</html>\n', async (client) => {
    const watch = await client.watch('key', 1).catch((e: unknown) => e);
    // The confirmation and the garbage may arrive in one read: the watch either fails at once or right after.
    const err = watch instanceof Error ? watch : await new Promise<Error>((resolve) => (watch as EtcdWatch).on('error', resolve));
    assert.ok(err instanceof EtcdError, String(err));
    assert.match(err.message, /something other than JSON/);
  });
});

test('stream errors name their cause and a 5xx without an etcd code counts as unreachable', async () => {
  await withScriptedMember(503, '{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader"}}\n', async (client) => {
    const err = await client.keepAliveOnce('1').catch((e: unknown) => e);
    assert.ok(err instanceof EtcdError);
    assert.match(err.message, /no leader/);
    assert.equal(err.code, 14);
    assert.equal(err.unreachable, true);
  });
  await withScriptedMember(502, '<html>bad gateway</html>', async (behindProxy) => {
    const viaProxy = await behindProxy.get('key').catch((e: unknown) => e);
    assert.ok(viaProxy instanceof EtcdError);
    assert.match(viaProxy.message, /HTTP 502/);
    assert.equal(viaProxy.unreachable, true);
  });
});

test('a watch whose member goes away says so with an error event (the caller must re-read)', async () => {
  const client = new EtcdClient({ endpoints: etcd.endpoints, callTimeoutMs: 2000 });
  try {
    const watch = await client.watch(freshKey(), 1);
    const failed = new Promise<Error>((resolve) => watch.on('error', resolve));
    await etcd.members[0]!.kill();
    assert.ok((await failed) instanceof EtcdError);
  } finally {
    client.close();
    await etcd.members[0]!.restart();
    await waitForEtcdHealthy(etcd);
  }
});
