import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'amqplib';
import { sleep } from '../../src/async.js';
import { freePort } from './ports.js';

/**
 * Debian's server script proper: /usr/sbin/rabbitmq-server is a wrapper that, run as root, switches to the
 * `rabbitmq` user (whose HOME and cookie are the shared broker's) and to /var/lib/rabbitmq.
 */
const SERVER_SCRIPT = process.env.RABBITMQ_SERVER_SCRIPT ?? '/usr/lib/rabbitmq/bin/rabbitmq-server';
const EPMD_BIN = process.env.EPMD_BIN ?? 'epmd';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const FIRST_START_TRIES = 3;

export interface PrivateRabbit {
  /** amqp://guest:guest@127.0.0.1:<port>/ (the node listens on loopback only, where guest may log in). */
  readonly url: string;
  readonly nodeName: string;
  /** The OS process of the node's Erlang VM (beam.smp) while it runs: a child of our server script. */
  readonly pid: number | undefined;
  /** Starts the node again, on the same ports and data (a durable quorum queue keeps its messages). */
  start(): Promise<void>;
  /** Stops the node gracefully (SIGTERM to the server script we started, which stops its VM). Safe twice. */
  stop(): Promise<void>;
  /** SIGKILL of the node's VM, the process we started through the script; resolves once it is gone. */
  kill(): Promise<void>;
  /** Stops the node and its epmd and deletes its directory. Safe twice. */
  dispose(): Promise<void>;
}

/** Why a private RabbitMQ node cannot be started here, or undefined if it can. */
export function privateRabbitUnavailable(): string | undefined {
  if (!existsSync(SERVER_SCRIPT)) return `${SERVER_SCRIPT} is missing: install rabbitmq-server (.ci/run does)`;
  if (!existsSync('/proc/self/stat')) return 'finding the node’s Erlang VM needs /proc';
  return undefined;
}

/**
 * A RabbitMQ node of this test process's own, for tests that stop, kill and restart the broker; the machine's
 * shared broker (5672, epmd on 4369, /etc/rabbitmq) is never touched. The server script runs as our child with
 * an environment of its own: a node name `rw-test-<pid>-<random>@localhost`, free loopback ports (AMQP, Erlang
 * distribution), an epmd of its own (our child too, on a free port; the node is told not to start one, so none
 * outlives the test), a HOME for its Erlang cookie, its data and logs in a temporary directory, no plugins.
 *
 *   start() ──▶ running ── stop() (graceful) | kill() (SIGKILL of its beam.smp) ──▶ down ── start() ──▶ …
 *   dispose(): down for good, its epmd stopped, its directory removed
 */
export async function startPrivateRabbit(): Promise<PrivateRabbit> {
  for (let attempt = 1; ; attempt++) {
    const node = await PrivateRabbitNode.prepare();
    try {
      await node.start();
      return node;
    } catch (err) {
      await node.dispose();
      // A port found free can be taken before the node binds it: the node exits, and fresh ports are tried.
      if (!(err instanceof NodeExited) || attempt >= FIRST_START_TRIES) throw err;
    }
  }
}

class NodeExited extends Error {}

class PrivateRabbitNode implements PrivateRabbit {
  readonly url: string;
  private epmd: OwnedChild | undefined;
  private server: OwnedChild | undefined;
  private disposed = false;
  private readonly onExit = () => this.killNow();

  private constructor(
    private readonly dir: string,
    readonly nodeName: string,
    private readonly ports: { amqp: number; dist: number; epmd: number },
  ) {
    this.url = `amqp://guest:guest@127.0.0.1:${ports.amqp}/`;
    process.once('exit', this.onExit);
  }

  static async prepare(): Promise<PrivateRabbitNode> {
    const dir = await mkdtemp(join(tmpdir(), 'rw-rabbit-'));
    const ports = { amqp: await freePort(), dist: await freePort(), epmd: await freePort() };
    await Promise.all(['home', 'mnesia', 'log'].map((d) => mkdir(join(dir, d))));
    await writeFile(join(dir, 'rabbitmq.conf'), `listeners.tcp.local = 127.0.0.1:${ports.amqp}\n`);
    await writeFile(join(dir, 'enabled_plugins'), '[].\n');
    await writeFile(join(dir, 'rabbitmq-env.conf'), '');
    const nodeName = `rw-test-${process.pid}-${randomBytes(3).toString('hex')}@localhost`;
    return new PrivateRabbitNode(dir, nodeName, ports);
  }

  get pid(): number | undefined {
    const script = this.server?.pid;
    return script === undefined ? undefined : childProcesses(script).find((p) => p.comm === 'beam.smp')?.pid;
  }

  async start(): Promise<void> {
    if (this.disposed) throw new Error('this RabbitMQ node was disposed of');
    if (this.server?.running) return;
    if (!this.epmd?.running) await this.startEpmd();
    const server = new OwnedChild(SERVER_SCRIPT, [], this.dir, this.environment());
    this.server = server;
    const ready = await untilReady(server, () => amqpAnswers(this.url), START_TIMEOUT_MS);
    if (ready === 'exited')
      throw new NodeExited(`RabbitMQ node ${this.nodeName} exited while starting: ${await this.diagnostics()}`);
    if (ready === 'timeout') {
      await this.kill();
      throw new Error(`RabbitMQ node ${this.nodeName} did not start within ${START_TIMEOUT_MS} ms`);
    }
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server?.running) return;
    server.signal('SIGTERM'); // the script's trap stops its VM (rabbit's graceful shutdown) and waits for it
    if (!(await server.closedWithin(STOP_TIMEOUT_MS))) await this.kill();
  }

  async kill(): Promise<void> {
    const server = this.server;
    if (!server?.running) return;
    const beam = this.pid;
    if (beam === undefined) throw new Error(`no beam.smp under our server script (PID ${server.pid})`);
    signalPid(beam, 'SIGKILL');
    // The script was waiting for its VM, and exits now; its VM's helpers (erl_child_setup) end with it.
    if (!(await server.closedWithin(STOP_TIMEOUT_MS))) server.signal('SIGKILL');
    await server.closedWithin(STOP_TIMEOUT_MS);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.stop();
    this.epmd?.signal('SIGTERM');
    await this.epmd?.closedWithin(STOP_TIMEOUT_MS);
    process.removeListener('exit', this.onExit);
    await rm(this.dir, { recursive: true, force: true });
  }

  /** At exit without dispose(): SIGKILL whatever of ours still runs (synchronously), remove the directory. */
  private killNow(): void {
    const beam = this.pid;
    if (beam !== undefined) signalPid(beam, 'SIGKILL');
    this.server?.signal('SIGKILL');
    this.epmd?.signal('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async startEpmd(): Promise<void> {
    const port = this.ports.epmd;
    const epmd = new OwnedChild(EPMD_BIN, ['-port', String(port), '-address', '127.0.0.1'], this.dir, {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
    });
    this.epmd = epmd;
    const ready = await untilReady(epmd, () => tcpAnswers(port), 10_000);
    if (ready === 'exited') throw new NodeExited(`epmd on port ${port} exited: ${epmd.tail()}`);
    if (ready === 'timeout') throw new Error(`epmd on port ${port} did not answer within 10 s`);
  }

  /** The node's whole environment: nothing of this process's RABBITMQ_* or Erlang settings leaks in. */
  private environment(): NodeJS.ProcessEnv {
    const { dir, ports } = this;
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      LANG: process.env.LANG ?? 'C.UTF-8',
      HOME: join(dir, 'home'), // the Erlang cookie is made here
      // Not /etc/rabbitmq's files, which name the shared node and its listener.
      RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
      RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
      RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'), // absent
      RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
      RABBITMQ_NODENAME: this.nodeName,
      RABBITMQ_DIST_PORT: String(ports.dist),
      RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(dir, 'log'),
      ERL_EPMD_PORT: String(ports.epmd),
      ERL_EPMD_ADDRESS: '127.0.0.1',
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1} -start_epmd false',
    };
  }

  private async diagnostics(): Promise<string> {
    const log = await readFile(join(this.dir, 'log', `${this.nodeName}.log`), 'utf8').catch(() => '');
    return `${this.server?.tail() ?? ''}\n${log.slice(-2_000)}`.trim();
  }
}

/** A process we spawned, with the tail of its output for error messages. Signals go to its PID only. */
class OwnedChild {
  private readonly child: ChildProcess;
  private readonly output: string[] = [];
  private readonly closed: Promise<void>;
  private failed = false;

  constructor(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv) {
    this.child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [this.child.stdout!, this.child.stderr!]) stream.on('data', (d: Buffer) => this.keep(d));
    this.closed = new Promise((resolve) => {
      this.child.once('close', () => resolve());
      this.child.once('error', (err) => {
        this.failed = true;
        this.keep(Buffer.from(`${command}: ${err.message}`));
        resolve();
      });
    });
  }

  get pid(): number | undefined {
    return this.running ? this.child.pid : undefined;
  }

  get running(): boolean {
    return !this.failed && this.child.pid !== undefined && this.child.exitCode === null && !this.child.signalCode;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) signalPid(this.child.pid!, sig);
  }

  /** Whether it exited (and its output closed) within `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    const closed = await Promise.race([this.closed.then(() => true), timeout]);
    clearTimeout(timer);
    return closed;
  }

  tail(): string {
    return this.output.join('').slice(-2_000);
  }

  private keep(data: Buffer): void {
    this.output.push(data.toString());
    if (this.output.length > 200) this.output.shift();
  }
}

/** Sends `sig` to `pid`, which may have exited a moment ago. */
function signalPid(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** The processes whose parent is `parent` (from /proc), with their command names. */
function childProcesses(parent: number): { pid: number; comm: string }[] {
  const found: { pid: number; comm: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // it ended meanwhile
    }
    // "<pid> (<comm>) <state> <ppid> …"; comm may hold spaces and parentheses.
    const close = stat.lastIndexOf(')');
    const ppid = Number(stat.slice(close + 2).split(' ')[1]);
    if (ppid === parent) found.push({ pid: Number(entry), comm: stat.slice(stat.indexOf('(') + 1, close) });
  }
  return found;
}

/** Polls `check` every 200 ms until it is true, `child` exits, or `timeoutMs` has passed. */
async function untilReady(
  child: OwnedChild,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<'ready' | 'exited' | 'timeout'> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return 'ready';
    if (!child.running) return 'exited';
    if (Date.now() > deadline) return 'timeout';
    await sleep(200);
  }
}

async function amqpAnswers(url: string): Promise<boolean> {
  try {
    const connection = await connect(url, { timeout: 2_000 });
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

function tcpAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
