import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config.js';

export type { Logger };

/** JSON lines on stdout; every line carries `replicaId`. */
export function createLogger(level: LogLevel, replicaId: string): Logger {
  return pino({
    level,
    base: { replicaId },
    formatters: { level: (label) => ({ level: label }) },
  });
}
