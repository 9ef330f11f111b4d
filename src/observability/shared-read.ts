/**
 * A read shared by everyone who asks within `maxAgeMs` (a scrape's several gauges, a flood of probes): one
 * read at a time, and its result for maxAgeMs after it settled. A failed read gives `fallback(err)`.
 */
export class SharedRead<T> {
  private current: { at: number; settled: boolean; value: Promise<T> } | undefined;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly maxAgeMs: number,
    private readonly fallback: (err: unknown) => T,
  ) {}

  get(): Promise<T> {
    const now = performance.now();
    const current = this.current;
    if (current && (!current.settled || now - current.at < this.maxAgeMs)) return current.value;
    const next: { at: number; settled: boolean; value: Promise<T> } = { at: now, settled: false, value: undefined! };
    next.value = this.read()
      .catch((err: unknown) => this.fallback(err))
      .finally(() => {
        next.settled = true;
        next.at = performance.now();
      });
    this.current = next;
    return next.value;
  }
}
