/** The longest error text stored in a record's last_error or a ledger row (characters). */
const MAX_ERROR_CHARS = 2_000;

/**
 * Error text as Postgres can store it: without NUL characters (text columns refuse U+0000, and one such
 * string would fail the whole statement it is in, a batch's completion) and capped in length.
 */
export function storableText(text: string | null): string | null {
  if (text === null) return null;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what Postgres refuses
  const clean = text.includes('\u0000') ? text.replace(/\u0000/g, '\\0') : text;
  return clean.length > MAX_ERROR_CHARS ? `${clean.slice(0, MAX_ERROR_CHARS - 1)}…` : clean;
}
