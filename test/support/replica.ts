import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { waitFor } from './ports.js';

export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export interface LogLine {
  level: string;
  time: number;
  msg: string;
  replicaId?: string;
  epoch?: number;
  recordId?: number;
  attempt?: number;
  [key: string]: unknown;
}

/** A real `retry-worker start` process; its JSON log lines are kept and can be awaited. */
export class Replica {
  readonly logs: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly id: string,
    env: Record<string, string>,
  ) {
    this.child = spawn(process.execPath, [CLI, 'start'], {
      env: { PATH: process.env.PATH ?? '', REPLICA_ID: id, LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        this.logs.push(JSON.parse(line) as LogLine);
      } catch {
        this.stderr.push(line);
      }
      for (const w of this.waiters) w();
    });
    this.child.stderr!.on('data', (d: Buffer) => this.stderr.push(d.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.alive) process.kill(this.pid, sig);
  }

  /** Resolves with the first log line (from `from` on) that matches, or rejects after timeoutMs. */
  waitForLog(match: (l: LogLine) => boolean, timeoutMs = 20_000, from = 0): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      let index = from;
      const check = () => {
        for (; index < this.logs.length; index++) {
          if (match(this.logs[index]!)) {
            cleanup();
            resolve(this.logs[index]!);
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`replica ${this.id}: no matching log line within ${timeoutMs} ms; stderr: ${this.stderr.join('').slice(-2000)}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** SIGKILL if still running, and wait for the exit. */
  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
  }
}

export const isLeading = (l: LogLine) => l.msg === 'leading: this replica now executes failed records';
export const isExecutionStart = (l: LogLine) => l.msg === 'execution started';

/** The first live replica to log that it leads (at or after `notBefore`, a wall-clock ms time). */
export async function waitForLeader(replicas: readonly Replica[], timeoutMs = 20_000, notBefore = 0): Promise<{ replica: Replica; line: LogLine }> {
  return waitFor('a replica to lead', () => {
    for (const replica of replicas) {
      if (!replica.alive) continue;
      const line = replica.logs.find((l) => isLeading(l) && l.time >= notBefore);
      if (line) return { replica, line };
    }
    return undefined;
  }, timeoutMs, 20);
}
