/**
 * A whole number spelled for a simple query's text (the multi-statement round trips of claim-records.ts and
 * fence-term.ts, which cannot bind values). Throws on anything else, so nothing but digits reaches the SQL.
 */
export function intLiteral(value: number): string {
  if (!Number.isSafeInteger(value)) throw new TypeError(`expected a whole number, got ${value}`);
  return String(value);
}
