import type pg from 'pg';

/**
 * A statement prepared in SQL (PREPARE), once on each connection that runs it, and run by EXECUTE inside a
 * simple query beside other statements: BEGIN and the barrier before the dispatch lock, COMMIT after a
 * completion. Values bound through the extended protocol (pg's named statements) cost a round trip per
 * statement, and on the dispatch consumer's path the socket writes of those round trips were the largest part
 * of the replicas' CPU (docs/BENCHMARKS.md). The values are spelled as SQL literals (literal.ts).
 */
export class PreparedSql {
  /** Connections that have it: a prepared statement lasts as long as its session, whatever rolls back. */
  private readonly preparedOn = new WeakSet<pg.ClientBase>();

  constructor(
    private readonly name: string,
    private readonly types: readonly string[],
    private readonly text: string,
  ) {}

  /**
   * Prepares it on `client` unless it already is. The connection is marked when Postgres answers, even if the
   * caller stopped waiting: the caller's next statement on it (a ROLLBACK) is answered after that.
   */
  async prepareOn(client: pg.ClientBase): Promise<void> {
    if (this.preparedOn.has(client)) return;
    await client
      .query(`PREPARE ${this.name} (${this.types.join(', ')}) AS ${this.text}`)
      .then(() => this.preparedOn.add(client));
  }

  /** The EXECUTE statement for these arguments, each an SQL literal of the type the statement declares. */
  execute(args: readonly string[]): string {
    return `EXECUTE ${this.name} (${args.join(', ')})`;
  }
}
