export { type Config, type ConfigInput, loadConfig, resolveConfig, SETTINGS } from './config.js';
export { migrate } from './db/migrate.js';
export { createPool } from './db/pool.js';
export { ConfigError, PermanentFailure, RetryLater } from './errors.js';
export type { FailedRecord, Handler, HandlerContext, Handlers } from './executor/handler.js';
export { createHttpHandler, type HttpHandlerOptions, httpHandler } from './executor/http-handler.js';
export { type CancelOptions, type CancelResult, cancel } from './operations/cancel.js';
export {
  discard,
  type MoveOptions,
  type MoveResult,
  type RecordSelector,
  requeue,
} from './operations/move-selected.js';
export { type PruneOptions, type PruneResult, prune } from './operations/prune.js';
export { createWorker, Worker, type WorkerOptions } from './worker.js';
