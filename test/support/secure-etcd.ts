import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, waitFor } from './ports.js';

const run = promisify(execFile);
const ETCD_BIN = process.env.ETCD_BIN ?? 'etcd';
const ETCDCTL_BIN = process.env.ETCDCTL_BIN ?? 'etcdctl';

export interface SecureEtcd {
  endpoint: string;
  /** The CA that signed the server's and the client's certificates. */
  caFile: string;
  /** Another CA, which signed nothing of this server's. */
  otherCaFile: string;
  certFile: string;
  keyFile: string;
  username: string;
  password: string;
  stop(): Promise<void>;
}

/** Makes a CA, a certificate signed by it, and a key, with openssl, in `dir`. */
async function makeCa(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  return { cert, key };
}

async function sign(
  dir: string,
  ca: { cert: string; key: string },
  name: string,
  ext: string,
): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  const extFile = join(dir, `${name}.ext`);
  await writeFile(extFile, ext);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', key, '-out', csr]);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    cert,
    '-extfile',
    extFile,
  ]);
  return { cert, key };
}

/**
 * A real etcd that requires TLS with client certificates (`--client-cert-auth`) and has etcd's own auth
 * enabled: a root user, and a user with a role that may read and write the `retry-worker/` prefix. The
 * certificates are made with openssl; auth is set up with etcdctl. stop() kills etcd by its PID.
 */
export async function startSecureEtcd(): Promise<SecureEtcd> {
  const dir = await mkdtemp(join(tmpdir(), 'rw-etcd-tls-'));
  const ca = await makeCa(dir, 'ca');
  const other = await makeCa(dir, 'other-ca');
  const server = await sign(dir, ca, 'server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  const client = await sign(dir, ca, 'client', 'extendedKeyUsage=clientAuth\n');
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const endpoint = `https://127.0.0.1:${clientPort}`;
  const output: string[] = [];
  const child: ChildProcess = spawn(
    ETCD_BIN,
    [
      '--name',
      'tls',
      '--data-dir',
      join(dir, 'data'),
      '--listen-client-urls',
      endpoint,
      '--advertise-client-urls',
      endpoint,
      '--listen-peer-urls',
      `http://127.0.0.1:${peerPort}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${peerPort}`,
      '--initial-cluster',
      `tls=http://127.0.0.1:${peerPort}`,
      '--cert-file',
      server.cert,
      '--key-file',
      server.key,
      '--trusted-ca-file',
      ca.cert,
      '--client-cert-auth',
      '--log-level',
      'error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise((r) => child.once('exit', r));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined)
      process.kill(child.pid, 'SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  const ctl = (...args: string[]) =>
    run(
      ETCDCTL_BIN,
      [`--endpoints=${endpoint}`, `--cacert=${ca.cert}`, `--cert=${client.cert}`, `--key=${client.key}`, ...args],
      {
        env: { ...process.env, ETCDCTL_API: '3' },
      },
    );
  try {
    await waitFor(
      'the secured etcd to answer',
      async () =>
        (await ctl('endpoint', 'health').then(
          () => true,
          () => false,
        ))
          ? true
          : undefined,
      30_000,
      200,
    );
    const password = 'app-Pa55word';
    await ctl('user', 'add', 'root:root-Pa55word');
    await ctl('role', 'add', 'retry-worker');
    await ctl('role', 'grant-permission', 'retry-worker', '--prefix=true', 'readwrite', 'retry-worker/');
    await ctl('user', 'add', `app:${password}`);
    await ctl('user', 'grant-role', 'app', 'retry-worker');
    await ctl('auth', 'enable');
    return {
      endpoint,
      caFile: ca.cert,
      otherCaFile: other.cert,
      certFile: client.cert,
      keyFile: client.key,
      username: 'app',
      password,
      stop,
    };
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${output.join('')}`);
  }
}
