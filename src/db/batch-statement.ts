import type pg from 'pg';

/** Up to this many rows, a batch statement is a named (or, in complete-records.ts, prepared) one. */
export const FEW_ROWS = 16;

/**
 * A statement over `rows` rows passed as arrays (unnest). For a few rows (dispatch mode: a group of messages)
 * it is named, so that each connection parses and plans it once: planning it for every message cost
 * Postgres more CPU than running it. For many (a claimed batch) it is sent unnamed, so planned for its values
 * on a pool that leaves the choice to Postgres (leader mode's): a generic plan cannot see how many rows there
 * are, and for batches of hundreds Postgres once chose one that re-read the values once per row (40 ms instead
 * of 2). The dispatch consumer's pool asks for generic plans throughout (see DispatchMode).
 */
export function batchStatement(name: string, rows: number, text: string, values: unknown[]): pg.QueryConfig {
  return rows <= FEW_ROWS ? { name, text, values } : { text, values };
}
