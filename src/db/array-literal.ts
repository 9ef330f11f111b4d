/**
 * Array parameters as Postgres array literals, built with one join. pg's own conversion quotes and escapes
 * every element, which for the batch statements (a dozen arrays of up to BATCH_SIZE elements per batch) was
 * a visible share of a drain's CPU. Only for values that need no quoting: finite numbers, and words from
 * our own fixed vocabularies (statuses, outcomes); free text (errors) through textArray, which quotes each
 * element as pg would.
 */
export function numberArray(values: readonly number[]): string {
  return `{${values.join(',')}}`;
}

export function wordArray(values: readonly string[]): string {
  return `{${values.join(',')}}`;
}

/**
 * Free text and NULLs: each string double-quoted with its backslashes and double quotes escaped, as pg's own
 * conversion does, but without pg's per-element type dispatch; a batch of successes is all NULLs.
 */
export function textArray(values: readonly (string | null)[]): string {
  let literal = '{';
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (i > 0) literal += ',';
    // String(): an error's message is a string by type, not always at run time (a handler may set a number).
    literal += value === null || value === undefined ? 'NULL' : `"${String(value).replace(/[\\"]/g, '\\$&')}"`;
  }
  return `${literal}}`;
}
