import { writeSync } from 'node:fs';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config.js';
import { OWN_FORMAT } from './execution-lines.js';

export type { Logger };

/** JSON lines on stdout (or `destination`); every line carries `replicaId`. */
export function createLogger(level: LogLevel, replicaId: string, destination: DestinationStream = new LinesPerTick(process.stdout.fd ?? 1)): Logger {
  const logger = pino(
    {
      level,
      base: { replicaId },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  // ExecutionLines spells this format itself; these options and it change together.
  Object.defineProperty(logger, OWN_FORMAT, { value: true });
  return logger;
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

  private readonly destination: SonicBoom;

  constructor(private readonly fd: number) {
    this.destination = pino.destination({ fd, sync: false });
    if (open.size === 0) process.on('exit', flushAllOnExit);
    open.add(new WeakRef(this));
  }

  /**
   * On exit: what the destination holds, then this turn's lines, written synchronously. (A chunk the
   * destination is writing asynchronously at that moment is the one thing that can still be cut short.)
   */
  flushSync(): void {
    const text = this.lines.join('');
    this.lines = [];
    try {
      this.destination.flushSync();
    } catch {
      // destroyed or never opened: its buffer is gone
    }
    writeAllSync(this.fd, text);
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

/** Writes all of `text` to `fd`, retrying short writes and a non-blocking pipe's EAGAIN (a bounded number of times). */
function writeAllSync(fd: number, text: string): void {
  let buffer = Buffer.from(text);
  for (let tries = 0; buffer.length > 0 && tries < 1_000; tries++) {
    try {
      buffer = buffer.subarray(writeSync(fd, buffer));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
    }
  }
}
