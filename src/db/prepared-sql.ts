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
   * Sends `text` (a simple query that EXECUTEs this statement) on `client`, after a PREPARE on a connection that
   * does not have it yet. Both are queued at once, so nothing comes between them: a caller that stops waiting
   * queues its ROLLBACK after both (had it come between, the EXECUTE's BEGIN or COMMIT would run after it, on a
   * connection back in the pool). If the PREPARE fails, so does the EXECUTE, and the caller rolls back. The
   * connection is marked when Postgres answers the PREPARE, whoever is still waiting.
   */
  async query<Result>(client: pg.ClientBase, text: string): Promise<Result> {
    const prepared = this.preparedOn.has(client)
      ? undefined
      : client.query(`PREPARE ${this.name} (${this.types.join(', ')}) AS ${this.text}`).then(
          () => void this.preparedOn.add(client),
          (err: unknown) => {
            // Already there (prepared before, and not marked): it is, all the same.
            if ((err as { code?: string }).code !== '42P05') throw err;
            this.preparedOn.add(client);
          },
        );
    const result = client.query(text) as unknown as Promise<Result>;
    if (prepared) await Promise.all([prepared, result]);
    return result;
  }

  /** The EXECUTE statement for these arguments, each an SQL literal of the type the statement declares. */
  execute(args: readonly string[]): string {
    return `EXECUTE ${this.name} (${args.join(', ')})`;
  }
}
