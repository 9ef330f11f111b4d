import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { withTimeout } from '../async.js';
import type { Config } from '../config.js';
import { ConfigError } from '../errors.js';
import type { Handler, Handlers } from './handler.js';
import { createHttpHandler } from './http-handler.js';
import { KindRegistry, resolveKinds } from './kinds.js';

/**
 * The kinds a replica runs: the built-in `http` (made with the worker's HTTP_HANDLER_* settings), then
 * HANDLERS_MODULE's, then those passed to the library API; a later one of the same name overrides. A bad
 * handler or policy is a ConfigError naming where it came from, the kind and the field.
 */
export function kindRegistry(config: Config, fromModule: Handlers = {}, fromApi: Handlers = {}): KindRegistry {
  return new KindRegistry([
    ...resolveKinds({ http: createHttpHandler(config.httpHandler) }, config.execution, 'http'),
    ...resolveKinds(fromModule, config.execution, 'HANDLERS_MODULE'),
    ...resolveKinds(fromApi, config.execution, 'handlers'),
  ]);
}

/**
 * Imports HANDLERS_MODULE: an ES module whose default export maps kind -> handler (a function, or a policy
 * object; kindRegistry() checks them). Its top-level code runs now; if it has not finished within `timeoutMs`,
 * start-up fails saying so.
 */
export async function loadHandlersModule(path: string, timeoutMs: number): Promise<Handlers> {
  let mod: { default?: unknown };
  try {
    mod = (await withTimeout(
      import(pathToFileURL(resolve(path)).href),
      timeoutMs,
      `importing ${JSON.stringify(path)}`,
    )) as { default?: unknown };
  } catch (err) {
    throw new ConfigError(
      'HANDLERS_MODULE',
      `cannot import ${JSON.stringify(path)}: ${(err as Error).message}; expected the path of an ES module`,
      { cause: err },
    );
  }
  const handlers = mod.default;
  if (typeof handlers !== 'object' || handlers === null || Array.isArray(handlers)) {
    throw new ConfigError(
      'HANDLERS_MODULE',
      `${JSON.stringify(path)} has no default export object` +
        `; expected \`export default { kind: async (record, ctx) => {} }\``,
    );
  }
  return handlers as Handlers;
}

export type { Handler };
