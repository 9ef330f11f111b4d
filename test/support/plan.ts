import pg from 'pg';
import { resolveConfig } from '../../src/config.js';
import { deriveTimings, leaderSessionSettings } from '../../src/timings.js';

/** The leader pool's session settings at default settings. */
export const LEADER_SESSION = leaderSessionSettings(
  deriveTimings(resolveConfig({ databaseUrl: 'postgres://x@127.0.0.1/x' })),
);

export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Actual Loops': number;
  Plans?: PlanNode[];
}

/**
 * Runs `statementOf` against a stand-in that records the statement it sends (and answers with no rows), then EXPLAIN
 * ANALYZEs that statement on the real database in a transaction it rolls back (a statement sent with its COMMIT,
 * by completeAndCommit, without the COMMIT). Returns every node of the plan, and a
 * one-line description of them for assertion messages.
 */
export async function planOf(
  pool: pg.Pool,
  statementOf: (recorder: pg.Pool & pg.ClientBase) => Promise<unknown>,
  session: Readonly<Record<string, number | string>> = LEADER_SESSION,
): Promise<{ nodes: PlanNode[]; described: string; prepared: boolean }> {
  let statement: pg.QueryConfig | undefined;
  const recorder = {
    query: async (config: pg.QueryConfig | string, values?: unknown[]) => {
      statement = typeof config === 'string' ? { text: config, values: values ?? [] } : config;
      // No rows, read as one statement's result or as those of several (a simple query's).
      const none = { rows: [], rowCount: 0 };
      return Object.assign([none, none], none);
    },
    escapeLiteral: pg.escapeLiteral,
  } as unknown as pg.Pool & pg.ClientBase;
  await statementOf(recorder);
  if (!statement) throw new Error('no statement was sent');
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // The settings of the pool that runs the statement (the leader's, by default).
    for (const [name, value] of Object.entries(session))
      await client.query('SELECT set_config($1, $2, true)', [name, String(value)]);
    const { rows } = await client.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
      `EXPLAIN (ANALYZE, FORMAT JSON) ${statement.text.replace(/;\s*COMMIT\s*$/, '')}`,
      statement.values,
    );
    const nodes = flatten(rows[0]!['QUERY PLAN'][0]!.Plan);
    const described = nodes
      .map((n) => `${n['Node Type']}${n['Relation Name'] ? ` on ${n['Relation Name']}` : ''} x${n['Actual Loops']}`)
      .join(', ');
    return { nodes, described, prepared: statement.name !== undefined || /^\s*EXECUTE\b/.test(statement.text) };
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

function flatten(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(flatten)];
}
