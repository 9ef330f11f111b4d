import type pg from 'pg';

/**
 * Values spelled into a simple query's text. Some operations send several statements in one round trip, each
 * with its own snapshot, which the extended protocol (bound values) cannot do: a new leader's first steps
 * (fence-term.ts) and an idle leader's claim (claim-records.ts) are inside every failover and every
 * insert-to-start latency; a dispatch consumer's lock and every completion (lock-dispatched.ts,
 * complete-records.ts) are on the path of each group of messages. Only numbers checked here and strings quoted
 * by pg (`escapeLiteral`) get in.
 */
export function intLiteral(value: number): string {
  if (!Number.isSafeInteger(value)) throw new TypeError(`expected a whole number, got ${value}`);
  return String(value);
}

export function textLiteral(client: pg.ClientBase, value: string): string {
  return client.escapeLiteral(value);
}

/** An array of checked whole numbers, of `type` (bigint, int). */
export function intArrayLiteral(values: readonly number[], type: 'bigint' | 'int'): string {
  return `'{${values.map(intLiteral).join(',')}}'::${type}[]`;
}

/** An array of strings quoted by pg (null: NULL), cast to `type` (text, uuid). */
export function textArrayLiteral(
  client: pg.ClientBase,
  values: readonly (string | null)[],
  type: 'text' | 'uuid',
): string {
  return `ARRAY[${values.map((v) => (v === null ? 'NULL' : textLiteral(client, v))).join(', ')}]::${type}[]`;
}
