import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DemoSink } from '../../src/demo/demo-sink.js';
import { waitFor } from '../support/ports.js';

const call = (sink: DemoSink, recordId: number, body: object, signal?: AbortSignal) =>
  fetch(sink.url, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'idempotency-key': `record-${recordId}`, 'x-retry-attempt': '1', 'x-fencing-token': '3', 'x-replica-id': 'r' },
    ...(signal ? { signal } : {}),
  });

test('a call its caller hung up on ends, in the evidence, when the caller left; the sink still records its answer', async () => {
  const sink = new DemoSink();
  await sink.start();
  try {
    await call(sink, 1, { mode: 'ok', delayMs: 5 });
    const aborted = call(sink, 2, { mode: 'ok', delayMs: 600 }, AbortSignal.timeout(100));
    await assert.rejects(aborted);
    await waitFor('the sink to finish the abandoned call', () => (sink.inFlight === 0 && sink.executions.length === 2 ? true : undefined));
    const [done, abandoned] = sink.executions;
    assert.equal(done!.abandoned, false);
    assert.equal(abandoned!.abandoned, true);
    assert.equal(abandoned!.status, 200, 'the downstream went on and answered');
    assert.ok(abandoned!.end - abandoned!.start < 600, 'its span ends when the caller hung up, not when the sink answered');
  } finally {
    await sink.stop();
  }
});
