import type { Execution } from '../support/sink.js';
import { checkEvidence } from '../support/sink.js';
import type { Stranded } from './analyse-dispatch.js';
import type { ChaosCluster } from './chaos-cluster.js';
import type { ExecutionMode } from './fault.js';
import type { RecordBook } from './records.js';
import { type StaleStart, staleEvidence } from './stale-evidence.js';

/** What one run of one fault showed, from the sink's record and the database. */
export interface RunResult {
  fault: string;
  mode: ExecutionMode;
  backend: string;
  /** EXECUTION_TIMEOUT_MS: 'default' (unset: 60 s) or 'short' (1500 ms). */
  timeout: string;
  ttlSeconds: number;
  records: number;
  /** Requests the sink accepted. */
  executions: number;
  /** Requests the sink refused by their fencing token (a term older than one it had seen). */
  refused: number;
  /**
   * Requests the sink stamped after a newer term's fence while this process's loop was stalled across it, and
   * that their replica's own log starts before it (stale-evidence.ts). Not a violation; shown with notes.
   */
  staleStampedLate: number;
  /** Violations, each counted once per instance. */
  violations: Violations;
  /** Two executions of one record overlapping at the sink after the first one's caller had hung up. */
  overlapsAfterHangUp: number;
  /** Executions of a record after it had succeeded, and why each happened. Not a violation. */
  duplicatesAfterSuccess: number;
  duplicateReasons: Record<string, number>;
  /** From the injection to the first execution of a newer term (the failover), at the sink. */
  failoverMs: number | undefined;
  /** From the injection to the first execution of any term after it. */
  recoveryMs: number | undefined;
  /** The longest time without an execution starting at the sink, from the injection on. */
  outageMs: number;
  /** Dispatch mode: the oldest dispatch mark of a pending record seen (see analyse-dispatch.ts), in ms. */
  oldestMarkMs?: number;
  notes: string[];
}

export interface Violations {
  /** Two executions of one record in progress at once at the sink (invariant 1), callers still waiting. */
  overlaps: number;
  /** A request started at the sink by a term after a newer term was fenced, refused or not (invariant 4). */
  staleStarts: number;
  /**
   * Two terms' executions in progress at once, or (leader mode only) two replicas executing one epoch
   * (invariant 4).
   */
  termOverlaps: number;
  /** Records not final once healthy, or succeeded without ever running (invariant 2). */
  lost: number;
  /** Records whose attempts column, or count of executions, exceeds max_attempts (invariant 3). */
  overAttempts: number;
  /** Two ledger rows with one (record_uid, attempt). */
  ledgerDuplicates: number;
  /** Records that succeeded at the sink (the caller got the 2xx) and ended dead. */
  succeededThenDead: number;
  /** Dispatch mode only: records that waited for an attempt as only a lost message makes them wait. */
  stranded: number;
  /** The fault's own checks. */
  faultChecks: number;
}

/** The checks a mode does not make (analyse-dispatch.ts says what each check means in dispatch mode). */
export const NOT_CHECKED: Record<ExecutionMode, ReadonlySet<keyof Violations>> = {
  leader: new Set(['stranded']),
  dispatch: new Set(),
};

export const violationCount = (r: RunResult) => Object.values(r.violations).reduce((a, b) => a + b, 0);
export const isViolation = (r: RunResult) => violationCount(r) > 0;

export interface AnalysisInput {
  fault: string;
  mode: ExecutionMode;
  backend: string;
  timeout: string;
  ttlSeconds: number;
  cluster: ChaosCluster;
  book: RecordBook;
  /** Wall-clock ms. */
  faultAt: number;
  faultViolations: string[];
  /** Dispatch mode: what the StrandedWatch saw during the run. */
  stranded?: Stranded;
  notes: string[];
}

interface LedgerRow {
  uid: string;
  attempt: number;
  outcome: string | null;
  n: number;
  /** Wall-clock ms when the outcome was written, if it was. */
  finished: number | null;
  /** Wall-clock ms when the attempt was written (just before its start). */
  started: number;
}

interface RecordRow {
  id: number;
  uid: string;
  status: string;
  attempts: number;
  max: number;
}

export async function analyse(input: AnalysisInput): Promise<RunResult> {
  const { cluster, notes } = input;
  // The sink's times are on this process's performance clock; Postgres's on the wall clock of the same host.
  const toWall = (t: number) => cluster.loop.toWall(t);
  const all: Execution[] = cluster.sink.executions.map((e) => ({
    ...e,
    start: toWall(e.start),
    end: toWall(e.end),
    ...(e.hungUpAt !== undefined ? { hungUpAt: toWall(e.hungUpAt) } : {}),
  }));
  const accepted = all.filter((e) => !e.refused);
  const evidence = checkEvidence(all);
  const pool = cluster.pool;
  const [{ rows: records }, { rows: terms }, { rows: ledger }] = await Promise.all([
    pool.query<RecordRow>(
      'SELECT id, uid, status, attempts, coalesce(max_attempts, 5) AS max FROM failed_records ORDER BY id',
    ),
    pool.query<{ epoch: number; started: number }>(
      `SELECT epoch::float8 AS epoch, extract(epoch FROM started_at) * 1000 AS started
       FROM retry_worker_terms WHERE name = $1 ORDER BY started_at`,
      [cluster.baseEnv.ELECTION_NAME],
    ),
    pool.query<LedgerRow>(
      `SELECT record_uid AS uid, attempt, max(outcome) AS outcome, count(*)::int AS n,
              extract(epoch FROM max(finished_at)) * 1000 AS finished,
              extract(epoch FROM min(started_at)) * 1000 AS started
       FROM retry_worker_attempts GROUP BY record_uid, attempt`,
    ),
  ]);
  const v: Violations = {
    overlaps: evidence.overlaps.filter((o) => !o.afterHangUp).length,
    staleStarts: 0,
    termOverlaps: evidence.termOverlaps.filter((o) => !o.afterHangUp).length,
    lost: 0,
    overAttempts: 0,
    ledgerDuplicates: ledger.filter((l) => l.n > 1).length,
    succeededThenDead: 0,
    stranded: 0,
    faultChecks: input.faultViolations.length,
  };
  // One executor per epoch is leader mode's; in dispatch mode every replica executes under the epoch Postgres
  // holds, on purpose. Two epochs at once (evidence.termOverlaps) stay a violation in both modes.
  if (input.mode === 'leader')
    for (const [epoch, replicas] of evidence.replicasPerEpoch)
      if (replicas.size > 1) {
        v.termOverlaps++;
        notes.push(`epoch ${epoch} executed by ${[...replicas].join(' and ')}`);
      }
  const { stranded } = input;
  if (stranded) {
    v.stranded = stranded.count;
    notes.push(...stranded.notes);
  }
  const stale: StaleStart[] = [];
  for (const e of all) {
    // The first newer term fenced (terms come by started_at): from then on the request's term was stale.
    const newer = terms.find((t) => Number(t.epoch) > e.epoch && Number(t.started) < e.start);
    if (newer) stale.push({ execution: e, newer: { epoch: Number(newer.epoch), started: Number(newer.started) } });
  }
  const { notes: staleNotes, stampedLate } = staleEvidence(stale, {
    all,
    ids: new Map(records.map((r) => [r.uid, Number(r.id)])),
    ledgerStarts: new Map(ledger.map((l) => [`${l.uid}/${l.attempt}`, Number(l.started)])),
    logs: cluster.replicas.map((r) => ({ id: r.id, lines: r.logs })),
    stalls: cluster.loop.wallStalls(),
  });
  for (const { execution: e, newer } of stale) {
    if (stampedLate.has(e)) continue;
    v.staleStarts++;
    const late = Math.round(e.start - newer.started);
    const by = `${e.replicaId} (epoch ${e.epoch})${e.refused ? ', refused by its token' : ''}`;
    if (v.staleStarts <= 3) notes.push(`${by}: a request ${late} ms after epoch ${newer.epoch} was fenced`);
  }
  notes.unshift(...staleNotes); // first: the findings show a run's first notes
  const { wallDriftMs } = cluster.loop;
  if (wallDriftMs >= 50)
    notes.push(
      `the wall clock's offset from the monotonic clock ranged over ${wallDriftMs} ms during the run ` +
        '(each sink stamp was mapped to wall time by the offset in force when it was taken)',
    );

  const byUid = new Map<string, Execution[]>();
  for (const e of accepted) byUid.set(e.key, [...(byUid.get(e.key) ?? []), e]);
  for (const r of records) {
    const runs = byUid.get(r.uid) ?? [];
    if (r.status === 'pending') v.lost++;
    if (r.status === 'succeeded' && !runs.some((e) => e.status < 300)) {
      v.lost++;
      notes.push(`record ${r.id} succeeded without a 2xx at the sink`);
    }
    if (r.attempts > r.max || runs.length > r.max) {
      v.overAttempts++;
      notes.push(`record ${r.id}: attempts ${r.attempts}, ${runs.length} executions, max_attempts ${r.max}`);
    }
    if (r.status === 'dead' && runs.some((e) => e.status < 300 && e.hungUpAt === undefined)) {
      v.succeededThenDead++;
      notes.push(`record ${r.id} succeeded at the sink and ended dead`);
    }
    const expected = input.book.expected.get(r.uid);
    if (expected && r.status !== 'pending' && r.status !== expected.status)
      notes.push(`record ${r.id} ended ${r.status}, expected ${expected.status}`);
  }
  notes.push(...input.faultViolations);

  const ledgerRows = new Map(ledger.map((l) => [`${l.uid}/${l.attempt}`, l]));
  const reasons: Record<string, number> = {};
  let duplicates = 0;
  for (const runs of byUid.values()) {
    const sorted = [...runs].sort((x, y) => x.start - y.start);
    const success = sorted.find((e) => e.status < 300);
    if (!success) continue;
    for (const d of sorted.filter((e) => e.start > success.start)) {
      duplicates++;
      const reason = duplicateReason(success, d, cluster, ledgerRows.get(`${success.key}/${success.attempt}`));
      reasons[reason] = (reasons[reason] ?? 0) + 1;
    }
  }

  const before = all.filter((e) => e.start <= input.faultAt);
  const oldEpoch = before.length > 0 ? Math.max(...before.map((e) => e.epoch)) : 0;
  const after = accepted.filter((e) => e.start > input.faultAt).sort((x, y) => x.start - y.start);
  const failover = after.find((e) => e.epoch > oldEpoch);
  return {
    fault: input.fault,
    mode: input.mode,
    backend: input.backend,
    timeout: input.timeout,
    ttlSeconds: input.ttlSeconds,
    records: records.length,
    executions: accepted.length,
    refused: all.length - accepted.length,
    staleStampedLate: stampedLate.size,
    violations: v,
    overlapsAfterHangUp:
      evidence.overlaps.filter((o) => o.afterHangUp).length + evidence.termOverlaps.filter((o) => o.afterHangUp).length,
    duplicatesAfterSuccess: duplicates,
    duplicateReasons: reasons,
    failoverMs: failover ? Math.round(failover.start - input.faultAt) : undefined,
    recoveryMs: after[0] ? Math.round(after[0].start - input.faultAt) : undefined,
    outageMs: longestGap([input.faultAt, ...after.map((e) => e.start)]),
    ...(stranded ? { oldestMarkMs: stranded.oldestMarkMs } : {}),
    notes,
  };
}

/** The longest interval between consecutive times (sorted), in whole ms. */
function longestGap(times: readonly number[]): number {
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
  return Math.round(gap);
}

/** Why a record ran again after a success: what became of the successful attempt's outcome. */
function duplicateReason(
  success: Execution,
  again: Execution,
  cluster: ChaosCluster,
  ledger: LedgerRow | undefined,
): string {
  if (success.hungUpAt !== undefined) return 'the caller had hung up before the 2xx (timeout or abort)';
  const fate = cluster.events.find(
    (ev) => ev.replicaId === success.replicaId && ev.at >= success.start - 50 && ev.at <= again.start,
  );
  if (fate) return `outcome lost: its replica was ${fate.what}`;
  if (ledger?.outcome !== 'succeeded') return 'outcome lost: its batch rolled back and the ledger write did not land';
  if (Number(ledger.finished) > again.start)
    return 'outcome late: written to the ledger after the record had been claimed again (its row freed first)';
  return 'the ledger held the success before it ran again (unexplained)';
}
