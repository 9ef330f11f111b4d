import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const BENCH = fileURLToPath(new URL('../bench/run.js', import.meta.url));

// Keeps `npm run bench` from rotting: the quick form (a few hundred records, our CLI only, one run) must
// finish and print its table. No timing is asserted: benchmarks are not tests.
test('the quick bench runs our CLI through drain, io and latency and prints a Markdown table', {
  timeout: 180_000,
}, async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [BENCH, '--quick'], {
    timeout: 170_000,
    maxBuffer: 10 * 1024 * 1024,
  });
  assert.match(stdout, /^\| workload \| figure \| system \|/m);
  for (const workload of ['drain', 'io', 'latency'])
    assert.match(
      stdout,
      new RegExp(`^\\| ${workload} \\| .* \\| \\*\\*ours\\*\\* \\|`, 'm'),
      `a ${workload} row for ours`,
    );
});
