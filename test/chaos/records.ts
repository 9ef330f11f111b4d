import type { SinkBehaviour } from '../support/sink.js';
import type { ChaosCluster } from './chaos-cluster.js';

/** What a record should end as, if nothing but its own behaviour decided (crashes can spend attempts). */
export interface Expectation {
  status: 'succeeded' | 'dead';
  maxAttempts: number;
}

/** Every record the run inserted, by uid (ids can be reused; uids never are). */
export class RecordBook {
  readonly expected = new Map<string, Expectation>();

  constructor(private readonly cluster: ChaosCluster) {}

  /** Inserts `count` http records calling the sink with `behaviour`; returns their uids. */
  async insert(
    count: number,
    behaviour: SinkBehaviour,
    expectation: Expectation,
    options: { maxAttempts?: number; ids?: number[] } = {},
  ): Promise<string[]> {
    if (count <= 0) return [];
    const payload = JSON.stringify(this.cluster.sink.payload(behaviour));
    const { rows } = options.ids
      ? await this.cluster.pool.query<{ uid: string }>(
          `INSERT INTO failed_records (id, kind, payload, max_attempts)
           SELECT i, 'http', $1::jsonb, $2 FROM unnest($3::bigint[]) AS i RETURNING uid`,
          [payload, options.maxAttempts ?? null, options.ids],
        )
      : await this.cluster.pool.query<{ uid: string }>(
          `INSERT INTO failed_records (kind, payload, max_attempts)
           SELECT 'http', $1::jsonb, $3 FROM generate_series(1, $2) RETURNING uid`,
          [payload, count, options.maxAttempts ?? null],
        );
    for (const r of rows) this.expected.set(r.uid, expectation);
    return rows.map((r) => r.uid);
  }

  /**
   * The usual mix: 70 % succeed at once, 15 % fail once, 10 % always fail (max_attempts 3); with `slow`, 5 %
   * outlive a 1.5 s execution timeout (max_attempts 2); with `long`, 5 % take a second and succeed (in
   * dispatch mode, a redelivered or republished message then meets its record still executing elsewhere), in
   * ten slices between the quick ones so that some run whenever the fault hits.
   */
  async insertMix(total: number, options: { slow?: boolean; long?: boolean } = {}): Promise<void> {
    const slowCount = options.slow ? Math.round(total * 0.05) : 0;
    const longCount = options.long ? Math.round(total * 0.05) : 0;
    const failing = Math.round(total * 0.1);
    const flaky = Math.round(total * 0.15);
    const ok = total - slowCount - longCount - failing - flaky;
    const rounds = longCount > 0 ? 10 : 1;
    const slice = (n: number, i: number) => Math.floor((n * (i + 1)) / rounds) - Math.floor((n * i) / rounds);
    for (let i = 0; i < rounds; i++) {
      await this.insert(slice(ok, i), { mode: 'ok', delayMs: 20 }, { status: 'succeeded', maxAttempts: 5 });
      await this.insert(slice(longCount, i), { mode: 'ok', delayMs: 1_000 }, { status: 'succeeded', maxAttempts: 5 });
    }
    await this.insert(
      flaky,
      { mode: 'fail-until', succeedOnAttempt: 2, delayMs: 20 },
      { status: 'succeeded', maxAttempts: 5 },
    );
    await this.insert(
      failing,
      { mode: 'always-fail', delayMs: 10 },
      { status: 'dead', maxAttempts: 3 },
      { maxAttempts: 3 },
    );
    await this.insert(
      slowCount,
      { mode: 'ok', delayMs: 2_500 },
      { status: 'dead', maxAttempts: 2 },
      { maxAttempts: 2 },
    );
  }

  /**
   * Inserts `perTick` records every `everyMs` until stopped, so that there is always due work: a failover
   * shows as the first execution of the new term. Inserts that fail (the database is down) are skipped.
   */
  trickle(perTick: number, everyMs: number): { stop(): Promise<void> } {
    let stopped = false;
    let pending: Promise<unknown> = Promise.resolve();
    const timer = setInterval(() => {
      if (stopped) return;
      pending = this.insert(perTick, { mode: 'ok', delayMs: 20 }, { status: 'succeeded', maxAttempts: 5 }).catch(
        () => undefined,
      );
    }, everyMs);
    return {
      stop: async () => {
        stopped = true;
        clearInterval(timer);
        await pending;
      },
    };
  }
}
