import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config.js';

export type { Logger };

/** JSON lines on stdout; every line carries `replicaId`. */
export function createLogger(level: LogLevel, replicaId: string): Logger {
  return pino(
    {
      level,
      base: { replicaId },
      formatters: { level: (label) => ({ level: label }) },
    },
    new LinesPerTick(pino.destination({ fd: process.stdout.fd ?? 1, sync: false })),
  );
}

type SonicBoom = ReturnType<typeof pino.destination>;

/**
 * Hands the lines logged during one turn of the event loop to the destination as one string. pino's
 * destination (sonic-boom) measures the UTF-8 length of the string it is appending to on every write, which
 * made two lines per execution cost more than the execution; joined per turn, it measures once. Lines keep
 * their order and their `time`; they reach stdout at the end of the turn, and on exit before the process ends.
 */
class LinesPerTick implements DestinationStream {
  private lines: string[] = [];
  private scheduled = false;

  constructor(private readonly destination: SonicBoom) {
    if (open.size === 0) process.on('exit', flushAllOnExit);
    open.add(new WeakRef(this));
  }

  /** On exit: what is pending, written synchronously. */
  flushSync(): void {
    this.flushLines();
    try {
      this.destination.flushSync();
    } catch {
      // destroyed or never opened: nothing more can be written
    }
  }

  write(line: string): void {
    this.lines.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flushLines());
    }
  }

  /** pino's logger.flush(): hands over what is pending and asks the destination to write it. */
  flush(cb?: (err?: Error) => void): void {
    this.flushLines();
    this.destination.flush(cb);
  }

  private flushLines(): void {
    this.scheduled = false;
    if (this.lines.length === 0) return;
    const text = this.lines.length === 1 ? this.lines[0]! : this.lines.join('');
    this.lines = [];
    this.destination.write(text);
  }
}

// One exit listener for every logger of the process (a process may run several workers).
const open = new Set<WeakRef<LinesPerTick>>();

function flushAllOnExit(): void {
  for (const ref of open) ref.deref()?.flushSync();
}
