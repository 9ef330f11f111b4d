import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { PermanentFailure, RetryLater } from '../../src/errors.js';
import type { FailedRecord, HandlerContext } from '../../src/executor/handler.js';
import { httpHandler, parseHttpPayload, parseRetryAfter } from '../../src/executor/http-handler.js';
import { handlerContext } from '../support/http-target.js';

// ---- parseHttpPayload and parseRetryAfter (pure) ----

const MALFORMED: [what: string, payload: unknown][] = [
  ['null', null],
  ['an array', [{ url: 'http://x' }]],
  ['a string', 'http://x'],
  ['no url', { method: 'POST' }],
  ['a url that is not a URL', { url: 'not a url' }],
  ['a url that is not http(s)', { url: 'ftp://example.com/file' }],
  ['an unknown method', { url: 'http://x', method: 'FETCH' }],
  ['a method that is not a string', { url: 'http://x', method: 42 }],
  ['headers that are an array', { url: 'http://x', headers: [['a', 'b']] }],
  ['a header value that is not a string', { url: 'http://x', headers: { 'x-n': 1 } }],
  ['a GET with a body', { url: 'http://x', method: 'GET', body: { a: 1 } }],
  ['a header value with CR/LF', { url: 'http://x', headers: { 'x-a': 'v\r\nx-b: w' } }],
  ['a header value with NUL', { url: 'http://x', headers: { 'x-a': 'v\u0000' } }],
  ['a header value beyond Latin-1', { url: 'http://x', headers: { 'x-a': 'v\u2028' } }],
  ['a header name with a colon', { url: 'http://x', headers: { 'x-a:': 'v' } }],
  ['a header name with a space', { url: 'http://x', headers: { 'x a': 'v' } }],
  ['an empty header name', { url: 'http://x', headers: { '': 'v' } }],
  ['a Host header', { url: 'http://x', headers: { Host: 'admin.internal' } }],
  ['a Content-Length header', { url: 'http://x', headers: { 'content-length': '1' } }],
  ['a Transfer-Encoding header', { url: 'http://x', headers: { 'Transfer-Encoding': 'chunked' } }],
];

for (const [what, payload] of MALFORMED) {
  test(`parseHttpPayload rejects a payload with ${what} as a PermanentFailure`, () => {
    assert.throws(() => parseHttpPayload(payload), PermanentFailure);
  });
}

test('parseHttpPayload names a bad header, never its value, nor a bad name past its first bad character', () => {
  assert.throws(() => parseHttpPayload({ url: 'http://x', headers: { Authorization: 'Bearer s3cret\n' } }), {
    name: 'PermanentFailure',
    message: /^http payload: header "Authorization" has a value with a character HTTP does not allow .*not shown$/,
  });
  assert.throws(
    () => parseHttpPayload({ url: 'http://x', headers: { 'X-Key: s3cret': 'v' } }),
    (err: Error) => {
      assert.match(err.message, /header name "X-Key"… has an invalid character at position 6/);
      assert.doesNotMatch(err.message, /s3cret/);
      return true;
    },
  );
});

test('parseHttpPayload defaults the method to POST and upper-cases a given one', () => {
  assert.deepEqual(parseHttpPayload({ url: 'http://example.com/a' }), {
    url: 'http://example.com/a',
    method: 'POST',
    headers: {},
    body: undefined,
  });
  assert.equal(parseHttpPayload({ url: 'http://example.com/a', method: 'put' }).method, 'PUT');
});

test('parseRetryAfter reads delta-seconds as milliseconds', () => {
  assert.equal(parseRetryAfter('2'), 2_000);
  assert.equal(parseRetryAfter(' 0 '), 0);
});

test('parseRetryAfter reads an HTTP date relative to now, and a past date as 0', () => {
  const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:00:00 GMT', now), 0);
});

test('parseRetryAfter returns undefined when the header is absent or unreadable', () => {
  assert.equal(parseRetryAfter(null), undefined);
  assert.equal(parseRetryAfter('soon'), undefined);
});

test('parseRetryAfter gives a delay Postgres can add to now() even for a huge header', () => {
  const ms = parseRetryAfter('99999999999999999999');
  assert.ok(ms !== undefined && Number.isSafeInteger(ms), String(ms));
});

// ---- httpHandler against a real server ----

interface Received {
  method: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
}

let server: Server;
let baseUrl: string;
let received: Received[] = [];
let respond: (res: ServerResponse) => void = (res) => res.end();

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      respond(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function answer(status: number, headers: Record<string, string> = {}): void {
  received = [];
  respond = (res) => res.writeHead(status, headers).end('upstream says hello');
}

const UID = '0b5f3c55-4b0e-4f1a-9d0c-8f7d7e1a2b3c';

function record(payload: unknown): FailedRecord {
  return { id: 42, uid: UID, kind: 'http', payload, attempt: 3, maxAttempts: 5 };
}

const context = (signal = new AbortController().signal): HandlerContext => handlerContext(signal);

/** Runs the real handler for record 42, attempt 3, epoch 7. */
async function send(payload: unknown, ctx = context()): Promise<void> {
  await httpHandler(record(payload), ctx);
}

test('httpHandler sends the payload as JSON with the idempotency, attempt, fencing and replica headers', async () => {
  answer(204);
  await send({ url: `${baseUrl}/hook`, method: 'PUT', headers: { 'X-Custom': 'yes' }, body: { hello: 'world' } });
  assert.equal(received.length, 1);
  const [req] = received;
  assert.equal(req!.method, 'PUT');
  assert.equal(req!.headers['idempotency-key'], UID);
  assert.equal(req!.headers['x-retry-attempt'], '3');
  assert.equal(req!.headers['x-fencing-token'], '7');
  assert.equal(req!.headers['x-replica-id'], 'replica-test');
  assert.equal(req!.headers['x-custom'], 'yes');
  assert.equal(req!.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(req!.body), { hello: 'world' });
});

test('httpHandler keeps the same Idempotency-Key for a record across attempts', async () => {
  answer(200);
  await send({ url: baseUrl });
  await httpHandler({ ...record({ url: baseUrl }), attempt: 4 }, { ...context(), attempt: 4 });
  assert.deepEqual(
    received.map((r) => r.headers['idempotency-key']),
    [UID, UID],
  );
  assert.deepEqual(
    received.map((r) => r.headers['x-retry-attempt']),
    ['3', '4'],
  );
});

test('httpHandler sends a string body as is, without forcing a content type', async () => {
  answer(200);
  await send({ url: baseUrl, headers: { 'content-type': 'text/plain' }, body: 'raw text' });
  assert.equal(received[0]!.body, 'raw text');
  assert.equal(received[0]!.headers['content-type'], 'text/plain');
});

test('payload headers cannot override the fencing token or idempotency key', async () => {
  answer(200);
  await send({ url: baseUrl, headers: { 'X-Fencing-Token': '999', 'Idempotency-Key': 'mine' } });
  assert.equal(received[0]!.headers['x-fencing-token'], '7');
  assert.equal(received[0]!.headers['idempotency-key'], UID);
});

test('httpHandler rejects a 500 with a plain Error, so the record retries with backoff', async () => {
  answer(500);
  await assert.rejects(
    () => send({ url: baseUrl }),
    (err: unknown) => {
      assert.equal(Object.getPrototypeOf(err), Error.prototype);
      assert.match((err as Error).message, /answered 500: upstream says hello/);
      return true;
    },
  );
});

test('httpHandler rejects 408 and 429 without Retry-After with a plain Error', async () => {
  for (const status of [408, 429]) {
    answer(status);
    await assert.rejects(
      () => send({ url: baseUrl }),
      (err: unknown) => Object.getPrototypeOf(err) === Error.prototype,
    );
  }
});

test('httpHandler rejects a 503 with Retry-After: 2 with RetryLater of 2000 ms', async () => {
  answer(503, { 'retry-after': '2' });
  await assert.rejects(
    () => send({ url: baseUrl }),
    (err: unknown) => {
      assert.ok(err instanceof RetryLater);
      assert.equal(err.retryAfterMs, 2_000);
      return true;
    },
  );
});

test('httpHandler rejects a 404 with PermanentFailure, so the record is dead at once', async () => {
  answer(404);
  await assert.rejects(() => send({ url: baseUrl }), PermanentFailure);
});

test('httpHandler rejects a malformed payload with PermanentFailure without sending anything', async () => {
  answer(200);
  await assert.rejects(() => send({ url: 'ftp://example.com' }), PermanentFailure);
  assert.equal(received.length, 0);
});

test('httpHandler rejects when ctx.signal aborts while the server has not answered', async () => {
  received = [];
  const controller = new AbortController();
  respond = () => controller.abort(new Error('leadership lost'));
  await assert.rejects(() => send({ url: baseUrl }, context(controller.signal)), /leadership lost/);
  assert.equal(received.length, 1);
});
