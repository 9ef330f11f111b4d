import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The CLI next to this file (dist/src/cli.js once built). */
export const CLI_PATH = fileURLToPath(new URL('../cli.js', import.meta.url));

export interface LogLine {
  /** pino's label ('info', 'warn', 'error'…): the logger writes labels, not numbers. */
  level: string;
  time: number;
  msg: string;
  replicaId?: string;
  epoch?: number;
  recordId?: number;
  attempt?: number;
  [key: string]: unknown;
}

/** One `retry-worker start` process; every JSON log line goes to onLine. Signals go to its PID only. */
export class DemoReplica {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  readonly stderr: string[] = [];

  /**
   * `launcher`: a command that runs the replica and becomes it (it must exec, keeping the PID), e.g.
   * `['ip', 'netns', 'exec', 'ns1']` to run it inside a network namespace.
   */
  constructor(
    readonly id: string,
    env: Record<string, string>,
    onLine: (replica: DemoReplica, line: LogLine) => void,
    launcher: readonly string[] = [],
  ) {
    const [command, ...args] = [...launcher, process.execPath, CLI_PATH, 'start'];
    this.child = spawn(command!, args, {
      env: { PATH: process.env.PATH ?? '', ...env, REPLICA_ID: id },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    createInterface({ input: this.child.stdout! }).on('line', (text) => {
      try {
        onLine(this, JSON.parse(text) as LogLine);
      } catch {
        this.stderr.push(text);
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => this.stderr.push(d.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** kill -9, and wait for the exit. */
  async kill(): Promise<void> {
    this.killNow();
    await this.exited;
  }

  /** kill -9 without waiting (for a process that is exiting). */
  killNow(): void {
    if (this.alive && this.pid !== undefined) process.kill(this.pid, 'SIGKILL');
  }

  /** SIGTERM (graceful: drain and resign), then SIGKILL after graceMs. */
  async stop(graceMs: number): Promise<void> {
    if (!this.alive || this.pid === undefined) {
      await this.exited;
      return;
    }
    process.kill(this.pid, 'SIGTERM');
    const timer = setTimeout(() => void this.kill(), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
