/**
 * Array parameters as Postgres array literals, built with one join. pg's own conversion quotes and escapes
 * every element, which for the batch statements (a dozen arrays of up to BATCH_SIZE elements per batch) was
 * a visible share of a drain's CPU. Only for values that need no quoting: finite numbers, and words from
 * our own fixed vocabularies (statuses, outcomes). Free text (errors) still goes through pg.
 */
export function numberArray(values: readonly number[]): string {
  return `{${values.join(',')}}`;
}

export function wordArray(values: readonly string[]): string {
  return `{${values.join(',')}}`;
}
