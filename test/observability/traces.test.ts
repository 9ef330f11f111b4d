import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { insertRecords } from '../../src/db/insert-records.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { withWorker } from '../support/worker.js';

const FAILURE_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${FAILURE_TRACE}-00f067aa0ba902b7-01`;

let db: TestDatabase;
const received: IncomingHttpHeaders[] = [];
const sink = createServer((req, res) => {
  received.push(req.headers);
  req.resume();
  res.end('ok');
});
let url: string;

before(async () => {
  db = await createTestDatabase();
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/hook`;
});
after(async () => {
  sink.close();
  await db?.drop();
});

async function settle(ids: number[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS n FROM failed_records
       WHERE id = ANY($1::bigint[]) AND (status <> 'pending' OR attempts > 0)`,
      [ids],
    );
    if (rows[0].n === ids.length) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('records did not run');
}

// The first test runs with no SDK registered: the API's no-op.
test('with no SDK registered, the http handler forwards payload.traceparent as the traceparent header', async () => {
  received.length = 0;
  const ids = await insertRecords(db.pool, [
    { kind: 'http', payload: { url, traceparent: TRACEPARENT }, maxAttempts: 1 },
    { kind: 'http', payload: { url, traceparent: 'not-a-traceparent' }, maxAttempts: 1 },
  ]);
  await withWorker(db, 'traces-noop', {}, () => settle(ids));
  assert.deepEqual(received.map((h) => h.traceparent).sort(), [TRACEPARENT, undefined]);
});

test('with an SDK, each attempt is a span linked to payload.traceparent; the http handler sends its own', async () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  assert.ok(trace.setGlobalTracerProvider(provider));
  assert.ok(context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable()));
  try {
    received.length = 0;
    const ids = await insertRecords(db.pool, [
      { kind: 'http', payload: { url, traceparent: TRACEPARENT }, maxAttempts: 1 },
      { kind: 'boom', payload: {}, maxAttempts: 1 },
    ]);
    await withWorker(
      db,
      'traces-sdk',
      {
        boom: async () => {
          throw new Error('downstream said no');
        },
      },
      () => settle(ids),
    );
    const spans = exporter.getFinishedSpans();
    const http = spans.find((s) => s.name === 'retry http');
    const boom = spans.find((s) => s.name === 'retry boom');
    assert.ok(http && boom, `spans: ${spans.map((s) => s.name).join(', ')}`);
    assert.equal(http.links[0]?.context.traceId, FAILURE_TRACE, 'linked to the failure that created the record');
    assert.equal(http.attributes['retry_worker.record.id'], ids[0]);
    assert.equal(http.attributes['retry_worker.attempt'], 1);
    assert.equal(http.attributes['retry_worker.outcome'], 'succeeded');
    assert.equal(boom.links.length, 0);
    assert.equal(boom.attributes['retry_worker.outcome'], 'dead');
    assert.equal(boom.status.message, 'downstream said no');
    // Downstream continues the attempt's own trace.
    const sent = received[0]?.traceparent;
    assert.equal(sent, `00-${http.spanContext().traceId}-${http.spanContext().spanId}-01`);
  } finally {
    trace.disable();
    context.disable();
    await provider.shutdown();
  }
});
