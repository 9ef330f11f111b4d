// The tiny HTTP sink that docker-compose's demo rows call (node, no dependencies).
//   GET  /healthz  200
//   POST /exec     answers as the JSON body asks: {"mode":"ok"} 200; {"mode":"fail-until","succeedOnAttempt":N}
//                  503 before attempt N, then 200; {"mode":"always-fail"} 503; {"mode":"permanent"} 422;
//                  "delayMs" waits first. A fencing token (X-Fencing-Token) below the highest seen is refused
//                  with 409, as a downstream should. One log line per request names the executing replica.
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8080);
let highestEpoch = 0;

const server = createServer(async (req, res) => {
  const path = new URL(req.url ?? '/', 'http://sink').pathname;
  if (req.method === 'GET' && path === '/healthz')
    return res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
  if (req.method !== 'POST' || path !== '/exec')
    return res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  let body;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
  } catch {
    return res.writeHead(400, { 'content-type': 'text/plain' }).end('body is not JSON\n');
  }
  const attempt = Number(req.headers['x-retry-attempt'] ?? 1);
  const epoch = Number(req.headers['x-fencing-token'] ?? 0);
  let status = 200;
  if (epoch < highestEpoch) status = 409;
  else {
    highestEpoch = epoch;
    await new Promise((resolve) => setTimeout(resolve, Number(body.delayMs ?? 0)));
    if (body.mode === 'fail-until' && attempt < Number(body.succeedOnAttempt)) status = 503;
    if (body.mode === 'always-fail') status = 503;
    if (body.mode === 'permanent') status = 422;
  }
  const line = {
    time: new Date().toISOString(),
    key: req.headers['idempotency-key'],
    attempt,
    epoch,
    replica: req.headers['x-replica-id'],
    mode: body.mode,
    status,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
  res.writeHead(status, { 'content-type': 'text/plain' }).end(`${status}\n`);
});

server.listen(port, () => process.stdout.write(`sink listening on ${port}\n`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
