import type { AttemptRow } from '../db/read-attempts.js';
import type { RecordRow } from '../db/read-record.js';
import type { RecordActionRow } from '../db/read-record-actions.js';
import type { LeaderView } from './judge-leader.js';

/** Everything `status --record` knows about one record; explainRecord() turns it into an answer. */
export interface RecordFacts {
  recordId: number;
  record: RecordRow | null;
  /** The record's latest ledger rows, newest first. */
  attempts: readonly AttemptRow[];
  /** Operator actions on the record (requeue, discard, cancel), newest first. */
  actions?: readonly RecordActionRow[];
  /** A claim transaction holds the row now. */
  locked: boolean;
  leader: LeaderView;
  /** Kinds with a handler in this configuration (built-in http plus HANDLERS_MODULE); null if unknown. */
  knownKinds: readonly string[] | null;
  defaultMaxAttempts: number;
}

/**
 * Why a record is where it is, checked in this order:
 *   not-found; succeeded; dead (attempts exhausted or a permanent failure); discarded; cancelled;
 *   executing (an open ledger row and the row locked); claimed (locked, no open attempt yet);
 *   unknown-kind; exhausted (pending, every attempt used: the next claim marks it dead);
 *   backoff (not due until next_run_at); no-leader; leader-silent; due (waiting for the leader's next claim).
 */
export type RecordState =
  | 'not-found'
  | 'succeeded'
  | 'dead'
  | 'discarded'
  | 'cancelled'
  | 'executing'
  | 'claimed'
  | 'unknown-kind'
  | 'exhausted'
  | 'backoff'
  | 'no-leader'
  | 'leader-silent'
  | 'due';

export interface RecordExplanation {
  recordId: number;
  state: RecordState;
  /** One sentence: the answer. */
  summary: string;
  /** Further facts, one sentence each. */
  details: string[];
  /** Set for `executing`. */
  executing?: { replicaId: string; epoch: number; attempt: number; startedAt: string };
  /** Set for `backoff`. */
  notDueUntil?: string;
}

const iso = (d: Date) => d.toISOString();

/** "in 4.2 s" / "3.0 s ago", measured against the database's clock. */
export function relative(at: Date, now: Date): string {
  const s = (at.getTime() - now.getTime()) / 1000;
  const abs = Math.abs(s);
  const text =
    abs < 120
      ? `${abs.toFixed(1)} s`
      : abs < 7200
        ? `${(abs / 60).toFixed(1)} min`
        : abs < 172_800
          ? `${(abs / 3600).toFixed(1)} h`
          : `${(abs / 86_400).toFixed(1)} d`;
  return s >= 0 ? `in ${text}` : `${text} ago`;
}

export function explainRecord(facts: RecordFacts): RecordExplanation {
  const { recordId, record: r, attempts, leader } = facts;
  if (r === null)
    return {
      recordId,
      state: 'not-found',
      summary: `record ${recordId} does not exist in failed_records`,
      details: [],
    };
  const now = r.now;
  const maxAttempts = r.attemptBase + (r.maxAttempts ?? facts.defaultMaxAttempts);
  const details: string[] = [];
  const say = (state: RecordState, summary: string, extra: Partial<RecordExplanation> = {}): RecordExplanation => ({
    recordId,
    state,
    summary,
    details,
    ...extra,
  });
  const kindKnown = facts.knownKinds === null || facts.knownKinds.includes(r.kind);
  const kindNote =
    `kind ${JSON.stringify(r.kind)} has no handler in this configuration` +
    ` (known: ${(facts.knownKinds ?? []).join(', ') || 'none'})`;
  details.push(
    `kind ${JSON.stringify(r.kind)}, ${r.attempts} of ${maxAttempts} attempts recorded` +
      `${r.maxAttempts === null ? ' (DEFAULT_MAX_ATTEMPTS)' : ''}` +
      `, created ${iso(r.createdAt)}`,
  );
  if (r.attemptBase > 0)
    details.push(`requeued with a fresh budget after ${r.attemptBase} attempt${r.attemptBase === 1 ? '' : 's'}`);
  if (r.lastError !== null) details.push(`last error: ${r.lastError}`);
  for (const a of facts.actions ?? [])
    details.push(
      `${a.action} by ${a.actor} at ${iso(a.at)} (${relative(a.at, now)})${a.reason ? `: ${a.reason}` : ''}`,
    );

  // A final record: when it finished.
  const when = r.finishedAt ? ` at ${iso(r.finishedAt)} (${relative(r.finishedAt, now)})` : '';
  if (r.status === 'succeeded') {
    return say('succeeded', `succeeded${when} after ${r.attempts} attempt${r.attempts === 1 ? '' : 's'}`);
  }
  if (r.status === 'dead') {
    if (!kindKnown) details.push(kindNote);
    const why =
      r.attempts >= maxAttempts
        ? `attempts exhausted (${r.attempts} of ${maxAttempts})`
        : `failed permanently on attempt ${r.attempts}`;
    return say('dead', `dead${when}: ${why}${r.lastError !== null ? `; last error: ${r.lastError}` : ''}`);
  }

  if (r.status === 'discarded' || r.status === 'cancelled') {
    const actions = facts.actions ?? [];
    const by = actions.find((a) => a.action === (r.status === 'discarded' ? 'discard' : 'cancel'));
    const requested = actions.find((a) => a.action === 'cancel-requested');
    const aborted = attempts.find((a) => a.outcome === 'cancelled');
    const who = (a: RecordActionRow) => `${a.actor}${a.reason ? `: ${a.reason}` : ''}`;
    const how = by
      ? ` by ${who(by)}`
      : aborted
        ? ` while executing${requested ? ` (by ${who(requested)})` : ''}: ` +
          `attempt ${aborted.attempt} was aborted by replica ${aborted.replicaId}`
        : '';
    return say(r.status, `${r.status}${when}${how}; final (requeue runs it again)`);
  }

  // Pending. The ledger's latest attempt above the row's own count started but never committed.
  const open = attempts.find((a) => a.outcome === null && a.attempt > r.attempts);
  if (r.status === 'pending' && facts.locked) {
    if (open) {
      return say(
        'executing',
        `being executed now by replica ${open.replicaId} in epoch ${open.epoch}` +
          ` (attempt ${open.attempt} of ${maxAttempts}, started ${relative(open.startedAt, now)})`,
        {
          executing: {
            replicaId: open.replicaId,
            epoch: open.epoch,
            attempt: open.attempt,
            startedAt: iso(open.startedAt),
          },
        },
      );
    }
    return say(
      'claimed',
      `claimed by the leader's current batch (its row is locked)` +
        `; its attempt starts or is being recorded now` +
        `${leader.holder ? ` (leader ${leader.holder}, epoch ${leader.epoch})` : ''}`,
    );
  }
  if (open) {
    details.push(
      `attempt ${open.attempt} by ${open.replicaId} in epoch ${open.epoch} started ${relative(open.startedAt, now)}` +
        ` and never finished: its executor died` +
        ` or its transaction was rolled back; it counts as an attempt`,
    );
  }
  if (!kindKnown) return say('unknown-kind', `${kindNote}; the leader will mark it dead when it claims it`);
  const used = Math.max(r.attempts, ...attempts.map((a) => a.attempt));
  if (used >= maxAttempts)
    return say(
      'exhausted',
      `all ${maxAttempts} attempts were used (the last by an executor that died); the next claim marks it dead`,
    );
  if (r.nextRunAt > now) {
    const after =
      r.attempts > 0
        ? ` (backoff after attempt ${r.attempts} failed${r.lastError !== null ? `: ${r.lastError}` : ''})`
        : ' (its next_run_at)';
    return say('backoff', `not due until ${iso(r.nextRunAt)} (${relative(r.nextRunAt, now)})${after}`, {
      notDueUntil: iso(r.nextRunAt),
    });
  }
  const dueFor = `due since ${iso(r.nextRunAt)} (${relative(r.nextRunAt, now)})`;
  if (r.dueAhead > 0) details.push(`${r.dueAhead} due record${r.dueAhead === 1 ? '' : 's'} ahead of it in claim order`);
  if (leader.state === 'none') return say('no-leader', `${dueFor}, but no replica leads right now: ${leader.note}`);
  if (leader.state === 'unconfirmed') return say('leader-silent', `${dueFor}; waiting for a leader: ${leader.note}`);
  return say('due', `${dueFor}; waiting for the next claim of leader ${leader.holder} (epoch ${leader.epoch})`);
}
