import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createVhost, rabbitUnavailable } from '../support/rabbitmq.js';
import { runDemo } from '../support/run-cli.js';

const skip = await rabbitUnavailable();

test('demo --dispatch: all three replicas execute, the leader is killed, every record settles with no overlap', {
  skip,
  timeout: 90_000,
}, async (t) => {
  const vhost = await createVhost('rw-demo');
  t.after(() => vhost.drop());
  const { code, stdout, tail } = await runDemo(['--dispatch'], { ...process.env, AMQP_URL: vhost.url });
  assert.equal(code, 0, tail);
  assert.match(stdout, /overlaps found: 0 \(one record executed twice at once\), 0 \(two epochs executing at once\)/);
  assert.match(stdout, /pending\s+0\n/, tail);
  assert.match(stdout, />>> kill -9 \d+: killing the leader/, tail);
  assert.match(stdout, /cleaned up: .*the demo's queue deleted/, tail);
  assert.doesNotMatch(stdout, /guest:guest/, 'the demo printed the broker password');
  const executors = new Set([...stdout.matchAll(/^\[(replica-\d) epoch \d+\] record \d+ attempt/gm)].map((m) => m[1]));
  assert.equal(executors.size, 3, `executions on ${[...executors].join(', ')}${tail}`);
});

test('demo --dispatch with no RabbitMQ answering says how to get one, without the password; exit 1', async () => {
  const { code, stdout, tail } = await runDemo(['--dispatch'], {
    ...process.env,
    AMQP_URL: 'amqp://guest:s3cr3t@127.0.0.1:1/',
  });
  assert.equal(code, 1, tail);
  assert.match(stdout, /demo --dispatch needs RabbitMQ, and none answered at 127\.0\.0\.1:1/, tail);
  assert.match(stdout, /set AMQP_URL/, tail);
  assert.doesNotMatch(stdout, /s3cr3t/);
});
