import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';

const LOGGER = new URL('../../src/observability/logger.js', import.meta.url).href;

/**
 * A process that logs `lines` lines through the logger's own stdout destination as fast as it can, in bursts
 * (so that writes pile up behind the one in flight), then exits at once with process.exit: what pino's exit
 * hook flushes is all that can reach stdout.
 */
const script = (lines: number) => `
  const { createLogger } = await import(${JSON.stringify(LOGGER)});
  const log = createLogger('info', 'r1');
  for (let i = 0; i < ${lines}; i++) {
    if (i > 0 && i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
    log.info({ recordId: i, kind: 'nöop ✓', password: 'hunter2' }, 'execution succeeded');
  }
  process.exit(0);
`;

test('stdout gets every line, whole, in order and multi-byte intact, even on process.exit right after', async () => {
  const lines = 20_000;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script(lines)], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const parsed = stdout
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as { recordId: number; kind: string; password: string; replicaId: string });
  assert.equal(parsed.length, lines);
  parsed.forEach((line, i) => {
    assert.equal(line.recordId, i);
    assert.equal(line.kind, 'nöop ✓');
    assert.equal(line.password, '[redacted]');
    assert.equal(line.replicaId, 'r1');
  });
});
