export { Worker, createWorker, type WorkerOptions } from './worker.js';
export { resolveConfig, loadConfig, SETTINGS, type Config, type ConfigInput } from './config.js';
export { PermanentFailure, RetryLater, ConfigError } from './errors.js';
export type { Handler, Handlers, HandlerContext, FailedRecord } from './executor/handler.js';
export { httpHandler } from './executor/http-handler.js';
export { migrate } from './db/migrate.js';
export { createPool } from './db/pool.js';
