import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { INDEX_SCANS_ONLY, claimAndStartAttempts, prepareClaimAndStart, type ClaimAndStartArgs } from '../../src/db/claim-and-start-attempts.js';
import { termLockKey } from '../../src/db/term-lock.js';
import type { PlanNode } from '../support/plan.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(() => db.drop());

const flatten = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(flatten)];
const describe = (nodes: PlanNode[]) => nodes.map((n) => `${n['Node Type']}${n['Relation Name'] ? ` on ${n['Relation Name']}` : ''} x${n['Actual Loops']}`).join(', ');

test('a claim prepared while its tables were empty still reads them by index once they are large', async () => {
  const name = 'plans';
  const args: ClaimAndStartArgs = { name, epoch: 1, limit: 500, defaultMaxAttempts: 5, lockKey: termLockKey(name), replicaId: 'r1' };
  // A new deployment: the tables analyzed at zero rows, and no autovacuum to analyze them again meanwhile.
  await db.pool.query(`
    ALTER TABLE failed_records SET (autovacuum_enabled = false);
    ALTER TABLE retry_worker_attempts SET (autovacuum_enabled = false);
    ANALYZE failed_records; ANALYZE retry_worker_attempts;
    INSERT INTO retry_worker_leader (name, epoch, holder) VALUES ('${name}', 1, 'r1')`);
  const client = await db.pool.connect();
  try {
    await prepareClaimAndStart(client, args); // planned now, on those statistics
    await db.pool.query(`
      INSERT INTO failed_records (kind) SELECT 'noop' FROM generate_series(1, 20000);
      INSERT INTO retry_worker_attempts (record_id, attempt, epoch, replica_id, outcome)
        SELECT id, n, 1, 'r0', 'failed' FROM failed_records, generate_series(1, 2) AS n`);
    const { rows: statements } = await client.query<{ name: string }>(`SELECT name FROM pg_prepared_statements WHERE name LIKE 'retry_worker_%' ORDER BY name`);
    const [claimName, relockName] = statements.map((s) => s.name);
    assert.equal(claimName, 'retry_worker_claim');
    assert.equal(relockName, 'retry_worker_relock');

    await client.query(`BEGIN; SELECT ${INDEX_SCANS_ONLY}`);
    const explain = async (statement: string) =>
      flatten(((await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE ${statement}`)).rows[0] as { 'QUERY PLAN': { Plan: PlanNode }[] })['QUERY PLAN'][0]!.Plan);
    for (const nodes of [await explain(claimName!), await explain(relockName!)]) {
      const scans = nodes.filter((n) => /Seq Scan|Bitmap/.test(n['Node Type']) && /failed_records|retry_worker_attempts/.test(n['Relation Name'] ?? ''));
      assert.deepEqual(scans, [], `a table was scanned whole: ${describe(nodes)}`);
    }
    await client.query('ROLLBACK');

    // And the claim itself: a whole batch, each record planned from the two earlier attempts.
    const claim = await claimAndStartAttempts(client, args);
    assert.equal(claim.records.length, 500);
    assert.ok(claim.plans.every((p) => p.action === 'run' && p.attempt === 3));
    await client.query('ROLLBACK');
  } finally {
    client.release();
  }
});
