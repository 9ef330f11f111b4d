import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import type { KindStats } from '../../src/db/kind-stats.js';
import type { QueueStats } from '../../src/db/queue-stats.js';
import type { Term } from '../../src/election/term.js';
import type { ClusterReads } from '../../src/observability/cluster-reads.js';
import { Metrics } from '../../src/observability/metrics.js';
import { SharedRead } from '../../src/observability/shared-read.js';

const execution = (kind: string, outcome: 'succeeded' | 'failed' | 'dead', durationMs: number) => ({
  recordId: 1,
  kind,
  attempt: 1,
  epoch: 7,
  outcome,
  durationMs,
  error: null,
  finishedAt: Date.now(),
});

/** Samples of the text format by name and labels. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+?)(\{.*\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    out.set(`${m[1]}${m[2] ?? ''}`, m[3] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[3]));
  }
  return out;
}

test(
  "a replica's metrics follow its events, with a kind label on executions" + ', and read leadership from the gate',
  async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    let term: Term | undefined = {
      epoch: 7,
      signal: new AbortController().signal,
      remainingMs: () => 1500.4,
    } as unknown as Term;
    const executing = new Map([['email', 2]]);
    metrics.observeState({ leadership: () => term, executingByKind: () => executing });
    metrics.termStarted();
    metrics.claimed(3);
    metrics.claimed(0);
    metrics.claimed(2);
    metrics.executionFinished(execution('email', 'succeeded', 3));
    metrics.executionFinished(execution('email', 'succeeded', 40));
    metrics.executionFinished(execution('http', 'failed', 400_000));
    metrics.recordsSkipped('term-ended', 4);
    metrics.fencedRejection('claim');
    let s = samples((await metrics.render()).body);
    assert.equal(s.get('retry_worker_leader'), 1);
    assert.equal(s.get('retry_worker_epoch'), 7);
    assert.equal(s.get('retry_worker_safe_until_remaining_ms'), 1500);
    assert.equal(s.get('retry_worker_claimed_batches_total'), 2);
    assert.equal(s.get('retry_worker_claimed_records_total'), 5);
    assert.equal(s.get('retry_worker_empty_claims_total'), 1);
    assert.equal(s.get('retry_worker_executions_total{kind="email",outcome="succeeded"}'), 2);
    assert.equal(s.get('retry_worker_executions_total{kind="http",outcome="failed"}'), 1);
    assert.equal(s.get('retry_worker_execution_seconds_bucket{le="0.005",kind="email",outcome="succeeded"}'), 1);
    assert.equal(s.get('retry_worker_execution_seconds_bucket{le="0.05",kind="email",outcome="succeeded"}'), 2);
    assert.equal(s.get('retry_worker_execution_seconds_bucket{le="300",kind="http",outcome="failed"}'), 0);
    assert.equal(s.get('retry_worker_execution_seconds_bucket{le="+Inf",kind="http",outcome="failed"}'), 1);
    assert.equal(s.get('retry_worker_execution_seconds_sum{kind="http",outcome="failed"}'), 400);
    assert.equal(s.get('retry_worker_skipped_total{reason="term-ended"}'), 4);
    // Every other reason's series exists from the start, at 0.
    for (const reason of ['draining', 'rows-uncertain', 'ledger-failed', 'earlier-batch-open'])
      assert.equal(s.get(`retry_worker_skipped_total{reason="${reason}"}`), 0, reason);
    assert.equal(s.get('retry_worker_fenced_rejections_total{stage="claim"}'), 1);
    assert.equal(s.get('retry_worker_kind_executing{kind="email"}'), 2);

    term = undefined;
    metrics.termEnded('lease-expired');
    metrics.observeState({
      cluster: reads(async () => ({
        records: { pending: 4, succeeded: 5, dead: 6, discarded: 0, cancelled: 0 },
        due: 2,
        oldestDueAgeSeconds: 1.5,
      })),
    });
    s = samples((await metrics.render()).body);
    assert.equal(s.get('retry_worker_leader'), 0);
    assert.equal(s.get('retry_worker_epoch'), 0);
    assert.equal(s.get('retry_worker_terms_ended_total{reason="lease-expired"}'), 1);
    assert.equal(s.get('retry_worker_queue_records{status="dead"}'), 6);
    assert.equal(s.get('retry_worker_queue_oldest_due_age_seconds'), 1.5);
  },
);

test('a failed queue read keeps the last values and is counted; a scrape reads once', async () => {
  const metrics = new Metrics({ defaultMetrics: false });
  let queueReads = 0;
  let fail = false;
  const cluster = reads(
    async () => {
      queueReads++;
      if (fail) throw new Error('database down');
      return {
        records: { pending: 1, succeeded: 0, dead: 0, discarded: 0, cancelled: 0 },
        due: 1,
        oldestDueAgeSeconds: 0,
      };
    },
    () => metrics.clusterReadFailed(),
    0,
  );
  metrics.observeState({ cluster });
  await metrics.render();
  assert.equal(queueReads, 1, 'the three queue gauges of one scrape shared one read');
  fail = true;
  let s = samples((await metrics.render()).body);
  assert.equal(s.get('retry_worker_queue_due_records'), 1, 'the last values stay');
  // Gauges and counters are collected side by side: the failure shows from the next scrape on.
  s = samples((await metrics.render()).body);
  assert.ok((s.get('retry_worker_queue_stats_errors_total') ?? 0) >= 1);
});

test('per-kind gauges: due, in backoff, paused', async () => {
  const metrics = new Metrics({ defaultMetrics: false });
  const cluster = reads(
    async () => ({
      records: { pending: 0, succeeded: 0, dead: 0, discarded: 0, cancelled: 0 },
      due: 0,
      oldestDueAgeSeconds: 0,
    }),
    () => undefined,
    1_000,
    async () => [
      { kind: 'email', due: 3, backoff: 4, succeededLastHour: 0, deadLastHour: 0, paused: null },
      {
        kind: 'sms',
        due: 0,
        backoff: 0,
        succeededLastHour: 0,
        deadLastHour: 0,
        paused: { by: 'ops', reason: null, at: new Date() },
      },
    ],
  );
  metrics.observeState({ cluster });
  const s = samples((await metrics.render()).body);
  assert.equal(s.get('retry_worker_kind_due_records{kind="email"}'), 3);
  assert.equal(s.get('retry_worker_kind_backoff_records{kind="email"}'), 4);
  assert.equal(s.get('retry_worker_kind_paused{kind="sms"}'), 1);
  assert.equal(s.get('retry_worker_kind_paused{kind="email"}'), 0);
});

/** ClusterReads' shape over readers of our own (no database). */
function reads(
  queue: () => Promise<QueueStats>,
  onError: () => void = () => undefined,
  maxAgeMs = 1_000,
  kinds: () => Promise<KindStats[]> = async () => [],
): ClusterReads {
  let last: QueueStats | undefined;
  return {
    queue: new SharedRead(
      async () => (last = await queue()),
      maxAgeMs,
      () => {
        onError();
        return last;
      },
    ),
    kinds: new SharedRead(kinds, maxAgeMs, () => undefined),
  } as unknown as ClusterReads;
}

test('the standard Node process metrics are there, and the registry merges into a host application’s', async () => {
  const a = new Metrics();
  const b = new Metrics({ defaultMetrics: false });
  const s = samples((await a.render()).body);
  for (const name of [
    'process_cpu_user_seconds_total',
    'process_resident_memory_bytes',
    'nodejs_eventloop_lag_seconds',
    'nodejs_active_handles_total',
  ]) {
    assert.ok(
      [...s.keys()].some((k) => k.startsWith(name)),
      `${name} is exported`,
    );
  }
  const host = new Registry();
  const merged = Registry.merge([host, b.registry]);
  assert.match(await merged.metrics(), /retry_worker_leader/);
});
