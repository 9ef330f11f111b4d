import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, test } from 'node:test';
import { PermanentFailure } from '../../src/errors.js';
import { createHttpHandler } from '../../src/executor/http-handler.js';
import { classify } from '../../src/loop/attempts.js';
import { handlerContext, httpRecord, LoopbackServer, rejection } from '../support/http-target.js';

let server: LoopbackServer;

before(async () => {
  server = await new LoopbackServer().start();
});

after(async () => {
  await server.stop();
});

const BIG_BYTES = 200 * 1024 * 1024;

/** Answers `status` with a 200 MB body written as fast as the client reads it; `sent` counts what got out. */
function streamHugeBody(status: number): { sent: () => number; closedEarly: Promise<boolean> } {
  let sent = 0;
  let resolveClosed: (early: boolean) => void = () => undefined;
  const closedEarly = new Promise<boolean>((resolve) => (resolveClosed = resolve));
  const chunk = Buffer.alloc(64 * 1024, 'x');
  server.reset((_req, res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'text/plain', 'content-length': String(BIG_BYTES) });
    res.on('close', () => resolveClosed(sent < BIG_BYTES));
    const pump = () => {
      while (sent < BIG_BYTES && !res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      if (sent >= BIG_BYTES) res.end();
    };
    pump();
  });
  return { sent: () => sent, closedEarly };
}

for (const status of [500, 200]) {
  test(`a 200 MB answer with status ${status} is not read: the handler reads up to the cap and hangs up`, async () => {
    const handler = createHttpHandler({ maxResponseBytes: 300 });
    const huge = streamHugeBody(status);
    const rssBefore = process.memoryUsage().rss;
    const started = performance.now();
    const outcome = await Promise.resolve(handler(httpRecord({ url: `${server.origin}/big` }), handlerContext())).then(
      () => undefined,
      (err: Error) => err,
    );
    const elapsedMs = performance.now() - started;
    assert.equal(await huge.closedEarly, true, 'the whole 200 MB was sent');
    assert.ok(huge.sent() < 32 * 1024 * 1024, `${huge.sent()} bytes were sent before the handler hung up`);
    assert.ok(elapsedMs < 1_000, `the handler took ${Math.round(elapsedMs)} ms`);
    assert.ok(process.memoryUsage().rss - rssBefore < 64 * 1024 * 1024, 'the process grew by 64 MB or more');
    if (status === 200) assert.equal(outcome, undefined);
    else {
      assert.ok(outcome instanceof Error);
      assert.equal(outcome.message, `POST ${server.origin}/big answered 500: ${'x'.repeat(300)}…`);
    }
  });
}

test('the response excerpt keeps the answer but escapes its control characters', async () => {
  const handler = createHttpHandler({ maxResponseBytes: 1_024 });
  server.reset((_req, res) => res.writeHead(422).end('bad\r\nX-Injected: 1\x1b[31m red\u202e evil\x00'));
  const err = await rejection(Promise.resolve(handler(httpRecord({ url: `${server.origin}/e` }), handlerContext())));
  assert.ok(err instanceof PermanentFailure);
  assert.equal(
    err.message,
    `POST ${server.origin}/e answered 422: bad\\r\\nX-Injected: 1\\x1b[31m red\\u{202e} evil\\x00`,
  );
});

test('a URL with user:password and ?token= is written in last_error as origin and path only', async () => {
  const handler = createHttpHandler();
  server.reset((_req, res) => res.writeHead(503).end('try later'));
  const url = `http://alice:pa55word@127.0.0.1:${server.port}/hooks/in?token=s3cret&x=1#frag`;
  const err = await rejection(Promise.resolve(handler(httpRecord({ url }), handlerContext())));
  const { completion } = classify({ kind: 'failed', error: err }, { id: 42, maxAttempts: 3 }, 3, {
    backoff: { baseMs: 1, maxMs: 1 },
    retryOn: undefined,
  });
  assert.equal(completion.lastError, `attempt 3 of 3 failed: POST ${server.origin}/hooks/in answered 503: try later`);
  for (const secret of ['alice', 'pa55word', 's3cret', 'token', 'frag'])
    assert.ok(!String(err.stack).includes(secret), `the error shows ${secret}`);
  // The credentials still go, as Basic authentication; the query too.
  assert.equal(server.requests[0]!.headers.authorization, `Basic ${Buffer.from('alice:pa55word').toString('base64')}`);
  assert.equal(server.requests[0]!.url, '/hooks/in?token=s3cret&x=1');
});

test('a network error is retried and shows the URL as origin and path only', async () => {
  const handler = createHttpHandler();
  const closed = await new LoopbackServer().start();
  const { port } = closed;
  await closed.stop();
  const err = await rejection(
    Promise.resolve(handler(httpRecord({ url: `http://u:p4ss@127.0.0.1:${port}/x?token=s3cret` }), handlerContext())),
  );
  assert.equal(Object.getPrototypeOf(err), Error.prototype);
  assert.match(err.message, new RegExp(`^POST http://127.0.0.1:${port}/x failed: connect ECONNREFUSED`));
  assert.doesNotMatch(err.message, /p4ss|s3cret/);
});

test('a header value with CR/LF is dead, naming the header and not its value, and nothing is sent', async () => {
  const handler = createHttpHandler();
  server.reset();
  const err = await rejection(
    Promise.resolve(
      handler(
        httpRecord({ url: `${server.origin}/h`, headers: { 'X-Api-Key': 'abc\r\nX-Admin: s3cret' } }),
        handlerContext(),
      ),
    ),
  );
  assert.ok(err instanceof PermanentFailure, String(err));
  assert.match(err.message, /header "X-Api-Key" has a value with a character HTTP does not allow/);
  assert.doesNotMatch(err.message, /abc|s3cret|X-Admin/);
  assert.equal(server.connections, 0);
});

test('an invalid URL is dead without being echoed', async () => {
  const handler = createHttpHandler();
  const err = await rejection(
    Promise.resolve(handler(httpRecord({ url: 'http://user:s3cret@exa mple.com/?token=x' }), handlerContext())),
  );
  assert.ok(err instanceof PermanentFailure, String(err));
  assert.equal(err.message, 'http payload: "url" is not a valid absolute URL');
});
