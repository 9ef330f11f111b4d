/**
 * The bench's tasks for graphile-worker's CLI (its task directory re-exports them), behaving as
 * bench/handlers.ts's do, and the event emitter its config file passes in to report when it is ready.
 */
import { EventEmitter } from 'node:events';
import { executionCounter, wallNow } from './handler-report.js';

const count = executionCounter(0);

export const noop = async (): Promise<void> => {
  count();
};

export const io5 = async (): Promise<void> => {
  count();
  await new Promise((resolve) => setTimeout(resolve, 5));
};

/** Reports `ready` once the worker listens for jobs (graphile-worker's `pool:listen:success` event). */
export function readyEvents(): EventEmitter {
  const events = new EventEmitter();
  events.once('pool:listen:success', () => process.send?.({ type: 'ready', t: wallNow() }));
  return events;
}
