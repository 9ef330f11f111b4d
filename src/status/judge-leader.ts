import type { LeaderRow } from '../db/read-leader.js';

/**
 * Who leads, as judged from Postgres alone (works for every backend):
 *   leading      the highest stored epoch's term is open and its holder's heartbeat is fresh
 *   unconfirmed  the term is open but its holder has not been seen lately (it may have crashed; the backend
 *                elects a new leader within the lease TTL, and the new term supersedes this one)
 *   none         no term yet, or the latest term has ended (its holder stopped, resigned or was fenced)
 */
export type LeaderState = 'leading' | 'unconfirmed' | 'none';

export interface LeaderView {
  state: LeaderState;
  holder: string | null;
  epoch: number | null;
  since: Date | null;
  backend: string | null;
  endedAt: Date | null;
  endReason: string | null;
  /** Seconds since the holder's last heartbeat, when it has one. */
  holderAgeSeconds: number | null;
  /** One sentence for people. */
  note: string;
}

export function judgeLeader(row: LeaderRow | null, staleAfterSeconds: number): LeaderView {
  if (row === null) {
    return {
      state: 'none',
      holder: null,
      epoch: null,
      since: null,
      backend: null,
      endedAt: null,
      endReason: null,
      holderAgeSeconds: null,
      note: 'no replica has led yet',
    };
  }
  const base = {
    holder: row.holder,
    epoch: row.epoch,
    since: row.since,
    backend: row.backend,
    endedAt: row.endedAt,
    endReason: row.endReason,
    holderAgeSeconds: row.holderAgeSeconds,
  };
  if (row.endedAt !== null) {
    return {
      ...base,
      state: 'none',
      note:
        `the last term (epoch ${row.epoch}, ${row.holder}) ended at ${row.endedAt.toISOString()}` +
        `: ${row.endReason ?? 'no reason recorded'}`,
    };
  }
  if (row.holderStoppedAt !== null && row.holderStoppedAt >= row.since) {
    return {
      ...base,
      state: 'none',
      note: `${row.holder} led epoch ${row.epoch} and stopped at ${row.holderStoppedAt.toISOString()}`,
    };
  }
  if (row.holderAgeSeconds === null) {
    return {
      ...base,
      state: 'unconfirmed',
      note: `${row.holder} holds epoch ${row.epoch}, but has written no heartbeat`,
    };
  }
  if (row.holderAgeSeconds > staleAfterSeconds) {
    return {
      ...base,
      state: 'unconfirmed',
      note:
        `${row.holder} holds epoch ${row.epoch} but was last seen ${row.holderAgeSeconds.toFixed(1)}` +
        ` s ago; it may have crashed` +
        ` (a new leader is elected within the lease TTL)`,
    };
  }
  return { ...base, state: 'leading', note: `${row.holder} leads epoch ${row.epoch} since ${row.since.toISOString()}` };
}
