import { isIP } from 'node:net';
import { connect } from 'node:tls';
import { ConfigError } from '../errors.js';

/** OpenSSL's verdicts on a server certificate this CA does not vouch for. */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
]);

/**
 * TLS alerts by which a server refuses the client's certificate (or its absence). The code spells the alert
 * by OpenSSL's protocol prefix, which differs between versions (Node 20: ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE,
 * Node 24: ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE), so the alert is matched at the end of the code.
 */
const CLIENT_CERT_REFUSED = /^ERR_SSL_.*ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|HANDSHAKE_FAILURE)$/;

/** How long after the handshake a server's refusal of the client certificate may take to arrive (TLS 1.3). */
const ALERT_WAIT_MS = 200;

/**
 * Opens a TLS connection to each https endpoint with the given CA and client certificate, and throws
 * ConfigError naming the setting when a server's certificate is not trusted (ETCD_CA_FILE), its name does not
 * match (ETCD_ENDPOINTS), or it refuses our client certificate (ETCD_CERT_FILE). The verdict comes from the
 * TLS error's code. Endpoints that cannot be reached are left to the campaign, which retries.
 */
export async function probeEtcdTls(
  endpoints: readonly string[],
  pem: { ca: Buffer; cert: Buffer | undefined; key: Buffer | undefined },
  timeoutMs: number,
): Promise<void> {
  const verdicts = await Promise.all(
    endpoints.filter((e) => e.startsWith('https:')).map((endpoint) => probe(endpoint, pem, timeoutMs)),
  );
  const refused = verdicts.find((v) => v !== undefined);
  if (refused) throw refused;
}

function probe(
  endpoint: string,
  pem: { ca: Buffer; cert: Buffer | undefined; key: Buffer | undefined },
  timeoutMs: number,
): Promise<ConfigError | undefined> {
  const url = new URL(endpoint);
  const where = `${url.hostname}:${url.port || '2379'}`;
  return new Promise((resolve) => {
    const socket = connect({
      host: url.hostname,
      port: Number(url.port || 2379),
      // SNI carries host names only; an IP address is checked against the certificate's IP entries.
      ...(isIP(url.hostname) ? {} : { servername: url.hostname }),
      ca: pem.ca,
      ...(pem.cert && pem.key ? { cert: pem.cert, key: pem.key } : {}),
      ALPNProtocols: ['h2'],
    });
    const finish = (verdict: ConfigError | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(verdict);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket.on('secureConnect', () => setTimeout(() => finish(undefined), ALERT_WAIT_MS));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? '';
      if (UNTRUSTED.has(code))
        finish(
          new ConfigError(
            'ETCD_CA_FILE',
            `the etcd server at ${where} has a certificate this CA does not vouch for (${code})` +
              `; expected the CA that signed the etcd servers' certificates`,
          ),
        );
      else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
        finish(
          new ConfigError(
            'ETCD_ENDPOINTS',
            `the certificate of the etcd server at ${where} is not issued for that name (${code})` +
              `; expected a host name the certificate names`,
          ),
        );
      else if (CLIENT_CERT_REFUSED.test(code))
        finish(
          new ConfigError(
            'ETCD_CERT_FILE',
            `the etcd server at ${where} refused ` +
              `${pem.cert ? 'our client certificate' : 'a connection without a client certificate'}` +
              ` (${code}); ` +
              `expected a client certificate signed by a CA the server trusts`,
          ),
        );
      else finish(undefined);
    });
  });
}
