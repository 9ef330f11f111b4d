import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DemoSink } from '../../src/demo/demo-sink.js';
import { waitFor } from '../support/ports.js';

const call = (sink: DemoSink, key: string, body: object, signal?: AbortSignal) =>
  fetch(sink.url, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'idempotency-key': key, 'x-retry-attempt': '1', 'x-fencing-token': '3', 'x-replica-id': 'r' },
    ...(signal ? { signal } : {}),
  });

test(
  'a call its caller hung up on keeps the downstream’s whole span in the evidence' + ', and when the caller left',
  async () => {
    const sink = new DemoSink();
    await sink.start();
    try {
      await call(sink, 'k1', { mode: 'ok', delayMs: 5 });
      const aborted = call(sink, 'k2', { mode: 'ok', delayMs: 600 }, AbortSignal.timeout(100));
      await assert.rejects(aborted);
      await waitFor('the sink to finish the abandoned call', () =>
        sink.inFlight === 0 && sink.executions.length === 2 ? true : undefined,
      );
      const [done, abandoned] = sink.executions;
      assert.equal(done!.hungUpAt, undefined);
      assert.ok(
        abandoned!.hungUpAt !== undefined && abandoned!.hungUpAt - abandoned!.start < 600,
        'the caller left early',
      );
      assert.equal(abandoned!.status, 200, 'the downstream went on and answered');
      // A Node timer counts from the event loop's cached time, so it can fire a millisecond or two early.
      assert.ok(abandoned!.end - abandoned!.start >= 595, 'its span is the downstream’s own work, to the answer');
    } finally {
      await sink.stop();
    }
  },
);

test('a garbage answer carries a NUL-laden body of the size asked for, until the attempt it succeeds on', async () => {
  const sink = new DemoSink();
  await sink.start();
  try {
    const res = await call(sink, 'k3', { mode: 'garbage', status: 503, bodyBytes: 3000, succeedOnAttempt: 2 });
    const text = await res.text();
    assert.equal(res.status, 503);
    assert.equal(Buffer.byteLength(text), 3000);
    assert.ok(text.includes('\u0000'));
    const later = await fetch(sink.url, {
      method: 'POST',
      body: JSON.stringify({ mode: 'garbage', status: 503, succeedOnAttempt: 2 }),
      headers: { 'idempotency-key': 'k3', 'x-retry-attempt': '2', 'x-fencing-token': '3', 'x-replica-id': 'r' },
    });
    assert.equal(later.status, 200);
  } finally {
    await sink.stop();
  }
});
