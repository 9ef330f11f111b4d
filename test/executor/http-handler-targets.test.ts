import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ExecutionAborted, PermanentFailure } from '../../src/errors.js';
import { createHttpHandler } from '../../src/executor/http-handler.js';
import type { ResolvedAddress } from '../../src/executor/target-policy.js';
import { countClientSockets, handlerContext, httpRecord, LoopbackServer, rejection } from '../support/http-target.js';

// Two downstreams on two loopback addresses: 127.0.0.1 (allowed by CIDR below) and 127.0.0.2.
let one: LoopbackServer;
let two: LoopbackServer;

before(async () => {
  one = await new LoopbackServer('127.0.0.1').start();
  two = await new LoopbackServer('127.0.0.2').start();
});

after(async () => {
  await one.stop();
  await two.stop();
});

/** A resolver that knows only these names (no real DNS), and counts its queries. */
function fakeDns(names: Record<string, string[]>) {
  const queries: string[] = [];
  const lookupHost = async (hostname: string): Promise<ResolvedAddress[]> => {
    queries.push(hostname);
    const addresses = names[hostname];
    if (!addresses) throw new Error(`getaddrinfo ENOTFOUND ${hostname}`);
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return { lookupHost, queries };
}

test('a payload URL to 169.254.169.254 is dead at once, and no connection is even attempted', async () => {
  const handler = createHttpHandler();
  let err: Error | undefined;
  const sockets = await countClientSockets(async () => {
    err = await rejection(
      Promise.resolve(handler(httpRecord({ url: 'http://169.254.169.254/latest/meta-data/' }), handlerContext())),
    );
  });
  assert.ok(err instanceof PermanentFailure, String(err));
  assert.match(err.message, /^POST http:\/\/169.254.169.254\/latest\/meta-data\/ refused: address 169.254.169.254/);
  assert.match(err.message, /HTTP_HANDLER_ALLOW_HOSTS/);
  assert.equal(sockets, 0, 'a client socket was created');
});

test('a name that resolves to a metadata address among others is refused before anything connects', async () => {
  const dns = fakeDns({ 'rebind.test': ['127.0.0.1', '169.254.169.254'] });
  const handler = createHttpHandler({ lookupHost: dns.lookupHost });
  one.reset();
  const err = await rejection(
    Promise.resolve(handler(httpRecord({ url: `http://rebind.test:${one.port}/` }), handlerContext())),
  );
  assert.ok(err instanceof PermanentFailure, String(err));
  assert.match(err.message, /host "rebind.test" \(resolved to 169.254.169.254\) is a link-local or cloud-metadata/);
  assert.equal(one.connections, 0, 'the allowed address of the name was connected to anyway');
});

test('the metadata host name is refused without a DNS query', async () => {
  const dns = fakeDns({});
  const handler = createHttpHandler({ lookupHost: dns.lookupHost });
  const err = await rejection(
    Promise.resolve(
      handler(httpRecord({ url: 'http://metadata.google.internal./computeMetadata/v1/' }), handlerContext()),
    ),
  );
  assert.ok(err instanceof PermanentFailure, String(err));
  assert.match(err.message, /"metadata.google.internal" is a cloud-metadata service/);
  assert.deepEqual(dns.queries, []);
});

test('loopback stays allowed by default, and the connection goes to the address that was checked', async () => {
  const dns = fakeDns({ 'sink.test': ['127.0.0.2'] });
  const handler = createHttpHandler({ lookupHost: dns.lookupHost });
  two.reset((_req, res) => res.end('ok'));
  await handler(httpRecord({ url: `http://sink.test:${two.port}/exec` }), handlerContext());
  await handler(httpRecord({ url: `http://SINK.test.:${two.port}/exec` }), handlerContext());
  assert.deepEqual(
    two.requests.map((r) => r.headers.host),
    [`sink.test:${two.port}`, `sink.test.:${two.port}`],
  );
  assert.deepEqual(dns.queries, ['sink.test', 'sink.test'], 'one query per request, for the check; none to connect');
});

test('an allow-list with a CIDR and a *.suffix lets through what they cover and refuses the rest', async () => {
  const dns = fakeDns({
    'api.svc.test': ['127.0.0.2'],
    'svc.test': ['127.0.0.2'],
    'other.test': ['127.0.0.2'],
    'loop.test': ['127.0.0.1'],
    'meta.svc.test': ['169.254.169.254'],
  });
  const handler = createHttpHandler({ allowHosts: ['127.0.0.1/32', '*.svc.test'], lookupHost: dns.lookupHost });
  const send = (url: string) => Promise.resolve(handler(httpRecord({ url }), handlerContext()));
  one.reset();
  two.reset();
  await send(`http://127.0.0.1:${one.port}/by-cidr`);
  await send(`http://loop.test:${one.port}/by-cidr-after-dns`);
  await send(`http://api.svc.test:${two.port}/by-suffix`);
  assert.deepEqual(
    [...one.requests, ...two.requests].map((r) => r.url),
    ['/by-cidr', '/by-cidr-after-dns', '/by-suffix'],
  );
  const connectionsBefore = two.connections;
  for (const url of [
    `http://127.0.0.2:${two.port}/`,
    `http://other.test:${two.port}/`,
    `http://svc.test:${two.port}/`,
    `http://meta.svc.test:${two.port}/`,
  ]) {
    const err = await rejection(send(url));
    assert.ok(err instanceof PermanentFailure, `${url}: ${String(err)}`);
    assert.match(err.message, /refused: .*HTTP_HANDLER_ALLOW_HOSTS/, url);
  }
  assert.equal(two.connections, connectionsBefore, 'a refused target was connected to');
});

test('a cross-origin 307 is not followed, and the secret header never reaches the other origin', async () => {
  const handler = createHttpHandler();
  one.reset((_req, res) => res.writeHead(307, { location: `${two.origin}/steal?token=s3cret` }).end());
  two.reset();
  const err = await rejection(
    Promise.resolve(
      handler(
        httpRecord({ url: `${one.origin}/hook`, headers: { 'X-Api-Key': 'k3y' }, body: { a: 1 } }),
        handlerContext(),
      ),
    ),
  );
  assert.ok(err instanceof PermanentFailure, String(err));
  assert.equal(
    err.message,
    `POST ${one.origin}/hook answered 307, a redirect to ${two.origin}/steal: another origin, not followed ` +
      '(only same-origin redirects are)',
  );
  assert.equal(one.requests[0]!.headers['x-api-key'], 'k3y');
  assert.equal(two.connections, 0, 'the other origin was connected to');
});

test('a redirect to another scheme on the same host and port is another origin: not followed', async () => {
  const handler = createHttpHandler();
  one.reset((_req, res) => res.writeHead(301, { location: `https://127.0.0.1:${one.port}/hook` }).end());
  const err = await rejection(Promise.resolve(handler(httpRecord({ url: `${one.origin}/hook` }), handlerContext())));
  assert.ok(err instanceof PermanentFailure, String(err));
  assert.match(err.message, /a redirect to https:\/\/127.0.0.1:\d+\/hook: another origin, not followed/);
  assert.equal(one.requests.length, 1);
});

test('same-origin redirects are followed: 307 keeps the method and body, 303 turns into a GET', async () => {
  const handler = createHttpHandler();
  one.reset((req, res) => {
    if (req.url === '/a') res.writeHead(307, { location: '/b' }).end();
    else if (req.url === '/b') res.writeHead(303, { location: `${one.origin}/c` }).end();
    else res.writeHead(204).end();
  });
  await handler(
    httpRecord({ url: `${one.origin}/a`, headers: { 'X-Api-Key': 'k3y' }, body: { a: 1 } }),
    handlerContext(),
  );
  assert.deepEqual(
    one.requests.map((r) => [r.method, r.url, r.body, r.headers['x-api-key'], r.headers['content-type']]),
    [
      ['POST', '/a', '{"a":1}', 'k3y', 'application/json'],
      ['POST', '/b', '{"a":1}', 'k3y', 'application/json'],
      ['GET', '/c', '', 'k3y', undefined],
    ],
  );
});

test('a redirect loop on one origin ends after 5 redirects as a permanent failure', async () => {
  const handler = createHttpHandler();
  one.reset((_req, res) => res.writeHead(302, { location: '/again' }).end());
  const err = await rejection(Promise.resolve(handler(httpRecord({ url: `${one.origin}/` }), handlerContext())));
  assert.ok(err instanceof PermanentFailure, String(err));
  assert.match(err.message, /answered 302, a redirect after 5 already followed; not followed/);
  assert.equal(one.requests.length, 6);
});

test('a 3xx that is not followed is a permanent failure saying so', async () => {
  const handler = createHttpHandler();
  const send = () => Promise.resolve(handler(httpRecord({ url: `${one.origin}/x` }), handlerContext()));
  one.reset((_req, res) => res.writeHead(300, { location: '/y' }).end('choose'));
  let err = await rejection(send());
  assert.ok(err instanceof PermanentFailure, String(err));
  assert.match(err.message, /answered 300; not followed \(only 301, 302, 303, 307 and 308 are\)$/);
  one.reset((_req, res) => res.writeHead(302).end());
  err = await rejection(send());
  assert.ok(err instanceof PermanentFailure, String(err));
  assert.match(err.message, /answered 302, a redirect without a Location; not followed$/);
});

test(
  'a request is written only if ctx.isSafe() holds once its connection is ready' + ': a pause meanwhile sends nothing',
  async () => {
    const handler = createHttpHandler();
    one.reset((_req, res) => res.end('ok'));
    const url = `http://127.0.0.1:${one.port}/exec`;
    // A fresh connection: the process "pauses" (the event loop blocks) while it connects, past the safe time.
    const safeUntil = performance.now() + 20;
    const paused = Promise.resolve(
      handler(httpRecord({ url }), { ...handlerContext(), isSafe: () => performance.now() < safeUntil }),
    );
    const until = performance.now() + 60;
    while (performance.now() < until) {
      // blocked: the connect completes meanwhile, but its callback runs only after this
    }
    const err = await rejection(paused);
    assert.equal((err as ExecutionAborted).reason, 'rows-uncertain');
    // A kept-alive connection is ready at once: the check comes before the write all the same.
    await handler(httpRecord({ url }), handlerContext());
    assert.equal(one.requests.length, 1);
    const unsafe = await rejection(
      Promise.resolve(handler(httpRecord({ url }), { ...handlerContext(), isSafe: () => false })),
    );
    assert.ok(unsafe instanceof ExecutionAborted);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(one.requests.length, 1, 'only the safe request reached the downstream');
  },
);
