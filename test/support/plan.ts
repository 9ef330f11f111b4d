import type pg from 'pg';

export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Actual Loops': number;
  Plans?: PlanNode[];
}

/**
 * Runs `statementOf` against a stand-in that records the statement it sends (and answers with no rows), then EXPLAIN ANALYZEs that
 * statement on the real database in a transaction it rolls back. Returns every node of the plan, and a
 * one-line description of them for assertion messages.
 */
export async function planOf(pool: pg.Pool, statementOf: (recorder: pg.Pool & pg.ClientBase) => Promise<unknown>): Promise<{ nodes: PlanNode[]; described: string; prepared: boolean }> {
  let statement: pg.QueryConfig | undefined;
  const recorder = { query: async (config: pg.QueryConfig) => ((statement = config), { rows: [], rowCount: 0 }) } as unknown as pg.Pool & pg.ClientBase;
  await statementOf(recorder);
  if (!statement) throw new Error('no statement was sent');
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${statement.text}`, statement.values);
    const nodes = flatten(rows[0]!['QUERY PLAN'][0]!.Plan);
    const described = nodes.map((n) => `${n['Node Type']}${n['Relation Name'] ? ` on ${n['Relation Name']}` : ''} x${n['Actual Loops']}`).join(', ');
    return { nodes, described, prepared: statement.name !== undefined };
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

function flatten(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(flatten)];
}
