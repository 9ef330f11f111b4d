import { fileURLToPath } from 'node:url';

/** The repository root, from dist/bench/. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The peers' own package (graphile-worker, pg-boss and the Node 22 they need). */
export const PEERS_DIR = `${ROOT}bench/peers/`;
export const PEER_NODE = `${PEERS_DIR}node_modules/node/bin/node`;
export const PEER_CHILD = fileURLToPath(new URL('./peer-child.js', import.meta.url));
export const GRAPHILE_TASKS = fileURLToPath(new URL('./graphile-tasks.js', import.meta.url));
export const OUR_CLI = `${ROOT}dist/src/cli.js`;
export const OUR_EMBEDDED = fileURLToPath(new URL('./ours-embedded.js', import.meta.url));
export const OUR_HANDLERS = fileURLToPath(new URL('./handlers.js', import.meta.url));
export const TIMER_CEILING = fileURLToPath(new URL('./timer-ceiling.js', import.meta.url));
