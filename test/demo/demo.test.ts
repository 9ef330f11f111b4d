import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runDemo } from '../support/run-cli.js';

test('the demo runs 3 replicas, kills the leader, settles every record with no overlap, cleans up and exits 0', {
  timeout: 90_000,
}, async () => {
  const started = Date.now();
  const { code, stdout, tail } = await runDemo([], process.env);
  assert.equal(code, 0, tail);
  assert.ok(Date.now() - started < 60_000, `the demo took ${Date.now() - started} ms${tail}`);
  assert.match(stdout, /==== Summary ====/, tail);
  assert.match(
    stdout,
    /overlaps found: 0 \(one record executed twice at once\), 0 \(two epochs executing at once\)/,
    tail,
  );
  assert.match(stdout, /pending\s+0\n/, tail);
  assert.match(stdout, /succeeded\s+[1-9]\d*\n/, tail);
  assert.match(stdout, /dead\s+[1-9]\d*\n/, tail);
  assert.match(stdout, />>> kill -9 \d+: killing the leader/, tail);
  assert.match(stdout, /failover time: [\d.]+ s from kill -9 of replica-\d/, tail);
  assert.match(stdout, /cleaned up: .*PostgreSQL stopped/, tail);
  // Only one replica executes per epoch: every execution line of an epoch names the same replica.
  const executors = new Map<string, Set<string>>();
  for (const m of stdout.matchAll(/^\[(replica-\d) epoch (\d+)\] record \d+ attempt/gm))
    executors.set(m[2]!, (executors.get(m[2]!) ?? new Set()).add(m[1]!));
  assert.ok(executors.size >= 2, `executions in at least two epochs${tail}`);
  for (const [epoch, replicas] of executors)
    assert.equal(replicas.size, 1, `epoch ${epoch} executed by ${[...replicas].join(', ')}`);
});
