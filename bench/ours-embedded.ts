/**
 * Our worker as a library user embeds it: settings from the environment, the bench's handlers passed to
 * createWorker(), stopped on SIGTERM. The bench runs it beside our CLI (`retry-worker start`).
 */
import { createWorker, loadConfig } from '../src/index.js';
import handlers from './handlers.js';

const worker = createWorker({ config: loadConfig(), handlers });
process.once('SIGTERM', () => {
  worker.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
await worker.start();
