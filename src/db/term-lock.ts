import { intLiteral } from './literal.js';

/**
 * The handover barrier of one election: a transaction-scoped advisory lock. Claim transactions take it
 * shared; a new leader takes it exclusive before it raises the epoch. Heavyweight locks queue fairly, so the
 * old leader's next claim waits behind the new leader and then sees the new epoch (research/fence-barrier.md).
 *
 * The key is two int4s: a constant class ('RWTL') and a hash of the election name, so that separate worker
 * groups in one database do not block each other. Both are numbers we compute, never user text.
 */
const TERM_LOCK_CLASS = 0x5257544c;

export type TermLockKey = readonly [number, number];

export function termLockKey(electionName: string): TermLockKey {
  // FNV-1a, 32 bits, as a signed int4.
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(electionName, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return [TERM_LOCK_CLASS, hash | 0];
}

/** The statement that takes the barrier for the rest of the transaction: shared (a claim) or exclusive (a fence). */
export function barrierStatement(key: TermLockKey, mode: 'shared' | 'exclusive'): string {
  const fn = mode === 'shared' ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock';
  return `SELECT ${fn}(${intLiteral(key[0])}, ${intLiteral(key[1])})`;
}
