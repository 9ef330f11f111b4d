import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { childCpuSeconds } from '../bench/systems.js';
import { waitFor } from './support/ports.js';
import { postgresServer } from './support/postgres.js';

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

test("the io ceiling's reference counts timers that each took at least their time, and nothing else", async () => {
  const ceiling = fileURLToPath(new URL('../bench/timer-ceiling.js', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [ceiling, '1', '5', '20']);
  const { perSecond } = JSON.parse(stdout) as { perSecond: number };
  // 5 loops of 20 ms timers for 1 s: about 250 a second at most (a timer fires at its time or later, on the
  // loop's clock of whole milliseconds: up to 5 % more), and a machine would have to stall for most of that
  // second to fire fewer than half of them.
  assert.ok(perSecond > 125 && perSecond <= 262, `${perSecond} timers a second`);
});

/** PIDs whose parent is `pid`. */
const childrenOf = async (pid: number) => [...(await childCpuSeconds(pid)).keys()];

const running = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('a bench stopped by SIGTERM stops the processes it started and drops its databases', {
  timeout: 120_000,
}, async () => {
  const server = await postgresServer();
  const bench = spawn(process.execPath, [BENCH, '--quick', '--only', 'latency'], {
    env: { ...process.env, DATABASE_URL: server.urlFor('postgres') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  bench.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => bench.once('exit', (code) => resolve(code)));
  try {
    // Its etcd and our replica (which idles before the probes): the run is in the middle of its work.
    const children = await waitFor(
      'the bench to start etcd and a replica',
      async () => {
        const pids = await childrenOf(bench.pid!);
        const commands = await Promise.all(pids.map((p) => readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')));
        const replica = commands.some((c) => c.split('\0').includes('start'));
        return replica && commands.some((c) => /etcd/.test(c)) ? pids : undefined;
      },
      60_000,
    );
    await new Promise((r) => setTimeout(r, 500));
    bench.kill('SIGTERM');
    assert.equal(await exited, 143, stderr);
    assert.deepEqual(children.filter(running), [], 'every process the bench started has stopped');
    const admin = new pg.Client({ connectionString: server.urlFor('postgres') });
    await admin.connect();
    try {
      const { rows } = await admin.query('SELECT datname FROM pg_database WHERE datname LIKE $1', [
        `rw_bench_${bench.pid}_%`,
      ]);
      assert.deepEqual(rows, [], 'its databases are dropped');
    } finally {
      await admin.end();
    }
  } finally {
    if (running(bench.pid!)) bench.kill('SIGKILL');
    await server.stop();
  }
});
