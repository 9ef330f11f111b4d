import { CLI_PATH, DemoReplica, type LogLine } from '../../src/demo/demo-replica.js';
import { waitFor } from './ports.js';

export type { LogLine };

/** The built CLI (dist/src/cli.js). */
export const CLI = CLI_PATH;

/**
 * A real `retry-worker start` process (the demo's DemoReplica, which the CLI ships); its JSON log lines are
 * kept here and can be awaited.
 */
export class Replica {
  readonly logs: LogLine[] = [];
  private readonly process: DemoReplica;
  private readonly waiters = new Set<() => void>();

  /** `launcher`: see DemoReplica (e.g. `ip netns exec NS`, to run the replica inside a network namespace). */
  constructor(
    readonly id: string,
    env: Record<string, string>,
    launcher: readonly string[] = [],
  ) {
    this.process = new DemoReplica(
      id,
      env,
      (_, line) => {
        this.logs.push(line);
        for (const w of this.waiters) w();
      },
      launcher,
    );
  }

  get exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.process.exited;
  }

  get stderr(): readonly string[] {
    return this.process.stderr;
  }

  get pid(): number {
    return this.process.pid!;
  }

  get alive(): boolean {
    return this.process.alive;
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
        reject(
          new Error(
            `replica ${this.id}: no matching log line within ${timeoutMs} ms` +
              `; stderr: ${this.stderr.join('').slice(-2000)}`,
          ),
        );
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
  kill(): Promise<void> {
    return this.process.kill();
  }
}

/** A replica's line that it leads: in leader mode it executes, in dispatch mode it dispatches. */
export const isLeading = (l: LogLine) =>
  l.msg === 'leading: this replica now executes failed records' ||
  l.msg === 'leading: this replica now dispatches failed records';
/** A line about one execution: written when it ends, with its start time (`startedAt`, wall-clock ms). */
export const isExecution = (l: LogLine) =>
  l.recordId !== undefined && typeof l.startedAt === 'number' && l.msg.startsWith('execution ');

/** The first live replica to log that it leads (at or after `notBefore`, a wall-clock ms time). */
export async function waitForLeader(
  replicas: readonly Replica[],
  timeoutMs = 20_000,
  notBefore = 0,
): Promise<{ replica: Replica; line: LogLine }> {
  return waitFor(
    'a replica to lead',
    () => {
      for (const replica of replicas) {
        if (!replica.alive) continue;
        const line = replica.logs.find((l) => isLeading(l) && l.time >= notBefore);
        if (line) return { replica, line };
      }
      return undefined;
    },
    timeoutMs,
    20,
  );
}
