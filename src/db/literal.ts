import type pg from 'pg';

/**
 * Values spelled into a simple query's text. Two operations (claim-records.ts, fence-term.ts) send several
 * statements in one round trip, each with its own snapshot, which the extended protocol (bound values)
 * cannot do: a new leader's first steps and an idle leader's claim are inside every failover and every
 * insert-to-start latency. Only numbers checked here and strings quoted by pg (`escapeLiteral`) get in.
 */
export function intLiteral(value: number): string {
  if (!Number.isSafeInteger(value)) throw new TypeError(`expected a whole number, got ${value}`);
  return String(value);
}

export function textLiteral(client: pg.ClientBase, value: string): string {
  return client.escapeLiteral(value);
}
