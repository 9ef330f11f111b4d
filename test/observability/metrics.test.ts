import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Term } from '../../src/election/term.js';
import { Metrics } from '../../src/observability/metrics.js';
import { counterOrGauge, histogram } from '../../src/observability/prometheus-text.js';

const execution = (outcome: 'succeeded' | 'failed' | 'dead' | 'skipped', durationMs: number) => ({ recordId: 1, kind: 'k', attempt: 1, epoch: 7, outcome, durationMs, error: null, finishedAt: Date.now() });

/** The text format's grammar, line by line: every sample belongs to the family whose # TYPE came last. */
function parse(text: string): { types: Map<string, string>; samples: { name: string; labels: string; value: number }[] } {
  const types = new Map<string, string>();
  const samples: { name: string; labels: string; value: number }[] = [];
  let family = '';
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$/.exec(line);
    if (type) {
      family = type[1]!;
      types.set(family, type[2]!);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* /.test(line)) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? (\S+)$/.exec(line);
    assert.ok(sample, `not a sample line: ${line}`);
    const name = sample[1]!;
    assert.ok(name === family || (types.get(family) === 'histogram' && [`${family}_bucket`, `${family}_sum`, `${family}_count`].includes(name)), `${name} outside its family ${family}`);
    const value = sample[3] === '+Inf' ? Infinity : Number(sample[3]);
    assert.ok(!Number.isNaN(value), `value of ${line}`);
    samples.push({ name, labels: sample[2] ?? '', value });
  }
  return { types, samples };
}

test('label values and help text are escaped as the text format requires', () => {
  const text = counterOrGauge('m_total', 'counter', 'a \\ back\nslash', [{ labels: { reason: 'say "hi"\\\nbye' }, value: 2 }]);
  assert.equal(text, '# HELP m_total a \\\\ back\\nslash\n# TYPE m_total counter\nm_total{reason="say \\"hi\\"\\\\\\nbye"} 2\n');
  parse(text);
});

test('a histogram spells cumulative buckets, +Inf equal to the count, and the sum', () => {
  const text = histogram('h_seconds', 'h', [{ labels: { outcome: 'x' }, bounds: [0.1, 1], counts: [1, 3], sum: 2.5, count: 4 }]);
  assert.deepEqual(
    parse(text).samples.map((s) => `${s.name}${s.labels} ${s.value}`),
    ['h_seconds_bucket{outcome="x",le="0.1"} 1', 'h_seconds_bucket{outcome="x",le="1"} 3', 'h_seconds_bucket{outcome="x",le="+Inf"} 4', 'h_seconds_sum{outcome="x"} 2.5', 'h_seconds_count{outcome="x"} 4'],
  );
});

test('a replica\'s metrics follow its events: outcomes, durations per bucket, terms, claims, fencing', async () => {
  const metrics = new Metrics();
  const term = { epoch: 7, signal: new AbortController().signal, remainingMs: () => 1500.4 } as unknown as Term;
  metrics.termStarted(term);
  metrics.claimed(3);
  metrics.claimed(2);
  metrics.executionFinished(execution('succeeded', 3));
  metrics.executionFinished(execution('succeeded', 40));
  metrics.executionFinished(execution('failed', 400_000));
  metrics.executionFinished(execution('skipped', 0));
  metrics.fencedRejection('claim');
  let { body } = await metrics.render();
  let { types, samples } = parse(body);
  const value = (name: string, labels = '') => samples.find((s) => s.name === name && s.labels === labels)?.value;
  assert.equal(types.get('retry_worker_execution_seconds'), 'histogram');
  assert.equal(value('retry_worker_leader'), 1);
  assert.equal(value('retry_worker_epoch'), 7);
  assert.equal(value('retry_worker_safe_until_remaining_ms'), 1500);
  assert.equal(value('retry_worker_claimed_batches_total'), 2);
  assert.equal(value('retry_worker_claimed_records_total'), 5);
  assert.equal(value('retry_worker_executions_total', '{outcome="succeeded"}'), 2);
  assert.equal(value('retry_worker_executions_total', '{outcome="skipped"}'), 1);
  assert.equal(value('retry_worker_execution_seconds_bucket', '{outcome="succeeded",le="0.005"}'), 1);
  assert.equal(value('retry_worker_execution_seconds_bucket', '{outcome="succeeded",le="0.05"}'), 2);
  assert.equal(value('retry_worker_execution_seconds_bucket', '{outcome="failed",le="300"}'), 0, 'over the last bound');
  assert.equal(value('retry_worker_execution_seconds_bucket', '{outcome="failed",le="+Inf"}'), 1);
  assert.equal(value('retry_worker_execution_seconds_sum', '{outcome="failed"}'), 400);
  assert.equal(value('retry_worker_execution_seconds_count', '{outcome="skipped"}'), undefined, 'skipped executions have no run time');
  assert.equal(value('retry_worker_fenced_rejections_total', '{stage="claim"}'), 1);
  assert.equal(value('retry_worker_fenced_rejections_total', '{stage="fence"}'), 0);
  assert.equal(value('retry_worker_queue_records', '{status="pending"}'), undefined, 'no queue reader, no queue series');

  metrics.termEnded(term, 'lease-expired');
  metrics.termEnded(term, 'lease-expired');
  metrics.observeQueue(async () => ({ records: { pending: 4, succeeded: 5, dead: 6 }, due: 2, oldestDueAgeSeconds: 1.5 }));
  ({ body } = await metrics.render());
  ({ types, samples } = parse(body));
  assert.equal(value('retry_worker_leader'), 0);
  assert.equal(value('retry_worker_epoch'), 0);
  assert.equal(value('retry_worker_terms_ended_total', '{reason="lease-expired"}'), 1, 'counted once per term');
  assert.equal(value('retry_worker_queue_records', '{status="dead"}'), 6);
  assert.equal(value('retry_worker_queue_oldest_due_age_seconds'), 1.5);

  const stale = new Metrics({ queueMaxAgeMs: 0 });
  stale.observeQueue(async () => ({ records: { pending: 1, succeeded: 0, dead: 0 }, due: 1, oldestDueAgeSeconds: 0 }));
  await stale.render();
  stale.observeQueue(async () => {
    throw new Error('database down');
  });
  ({ body } = await stale.render());
  ({ types, samples } = parse(body));
  assert.equal(value('retry_worker_queue_stats_errors_total'), 1);
  assert.equal(value('retry_worker_queue_due_records'), 1, 'a failed read keeps the last values');
});
