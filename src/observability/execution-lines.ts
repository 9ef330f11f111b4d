import { pino } from 'pino';
import type { Logger } from './logger.js';

/** Marks the loggers createLogger() makes (inherited by their children), whose line format is known here. */
export const OWN_FORMAT = Symbol('retry-worker.ownLineFormat');

const { chindingsSym, streamSym } = pino.symbols;
const INFO = 30;
const MAX_CACHED_KINDS = 1_000;

/**
 * The two info lines of every execution, `execution started` and `execution succeeded`. On a logger of our
 * own making they are spelled here, byte for byte as pino would write them (level label, time, the logger's
 * bindings, the fields, msg), and handed to its destination: in a drain, pino's generic serialisation of
 * these two lines was a tenth of the replica's CPU, five times what spelling them costs. Any other logger
 * (one passed to createWorker) gets the same calls through pino.
 */
export class ExecutionLines {
  private readonly own: boolean;
  private readonly kinds = new Map<string, string>();

  constructor(private readonly log: Logger) {
    this.own = (log as unknown as Record<symbol, unknown>)[OWN_FORMAT] === true;
  }

  started(recordId: number, attempt: number, kind: string): void {
    if (!this.own) return void this.log.info({ recordId, attempt, kind }, 'execution started');
    if (this.log.levelVal > INFO) return;
    this.write(`{"level":"info","time":${Date.now()}${this.bindings()},"recordId":${recordId},"attempt":${attempt},"kind":${this.quoted(kind)},"msg":"execution started"}\n`);
  }

  succeeded(recordId: number, attempt: number, kind: string, durationMs: number): void {
    if (!this.own) return void this.log.info({ recordId, attempt, kind, outcome: 'succeeded', durationMs }, 'execution succeeded');
    if (this.log.levelVal > INFO) return;
    this.write(`{"level":"info","time":${Date.now()}${this.bindings()},"recordId":${recordId},"attempt":${attempt},"kind":${this.quoted(kind)},"outcome":"succeeded","durationMs":${durationMs},"msg":"execution succeeded"}\n`);
  }

  private bindings(): string {
    return (this.log as unknown as Record<symbol, string>)[chindingsSym]!;
  }

  private write(line: string): void {
    (this.log as unknown as Record<symbol, { write(line: string): void }>)[streamSym]!.write(line);
  }

  /** JSON.stringify(kind), remembered: a replica sees few kinds. */
  private quoted(kind: string): string {
    let quoted = this.kinds.get(kind);
    if (quoted === undefined) {
      quoted = JSON.stringify(kind);
      if (this.kinds.size < MAX_CACHED_KINDS) this.kinds.set(kind, quoted);
    }
    return quoted;
  }
}
