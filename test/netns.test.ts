import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { NetLab } from './support/netns.js';

const run = promisify(execFile);

/** From inside host `id`: 'connected', 'refused' or 'timeout' (no answer at all) for a TCP connect. */
async function connectFrom(lab: NetLab, id: string, port: number): Promise<string> {
  const script = `const s = require('node:net').connect(${port}, '${lab.hostAddress}');
    s.on('connect', () => { console.log('connected'); process.exit(0); });
    s.on('error', (e) => { console.log(e.code === 'ECONNREFUSED' ? 'refused' : e.code); process.exit(0); });
    setTimeout(() => { console.log('timeout'); process.exit(0); }, 1500);`;
  const [command, ...args] = [...lab.launcher(id), process.execPath, '-e', script];
  return (await run(command!, args)).stdout.trim();
}

test('a test-network host reaches the host address; cut off, its packets are dropped (no RST); then back', async () => {
  const lab = await NetLab.create();
  const server = createServer((socket) => socket.end());
  try {
    await lab.addHost('a');
    await new Promise<void>((resolve) => server.listen(0, lab.hostAddress, resolve));
    const port = (server.address() as { port: number }).port;
    assert.equal(await connectFrom(lab, 'a', port), 'connected');
    await lab.cutOff('a');
    assert.equal(await connectFrom(lab, 'a', port), 'timeout');
    await lab.reconnect('a');
    assert.equal(await connectFrom(lab, 'a', port), 'connected');
  } finally {
    server.close();
    await lab.destroy();
  }
  const { stdout } = await run('ip', ['netns', 'list']);
  assert.ok(!stdout.includes(`rwc-${process.pid.toString(36)}_`), 'its namespaces are gone');
});

test("a crashed run's namespaces and links are removed by the next lab; a live process's are left alone", async () => {
  const dead = 'zzzzz'; // PID 60466175, above any PID the kernel hands out (pid_max is at most 4194304)
  await run('ip', ['netns', 'add', `rwc-${dead}_0-a`]);
  await run('ip', ['link', 'add', `rwb${dead}_0`, 'type', 'bridge']);
  const lab = await NetLab.create();
  try {
    await lab.addHost('a');
    await NetLab.removeLeftovers();
    const namespaces = (await run('ip', ['netns', 'list'])).stdout;
    const links = (await run('ip', ['-o', 'link', 'show'])).stdout;
    assert.ok(!namespaces.includes(dead) && !links.includes(dead), 'the dead run left nothing');
    assert.ok(namespaces.includes(`rwc-${process.pid.toString(36)}_`), 'the live lab kept its namespace');
  } finally {
    await lab.destroy();
  }
});
