import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { withTimeout } from '../async.js';
import { ConfigError } from '../errors.js';
import type { Handler, Handlers } from './handler.js';
import { createHttpHandler, type HttpHandlerOptions } from './http-handler.js';

/**
 * The built-in handlers, overridden by the user's where a kind is named twice. `http` is made with `http`
 * (the worker's HTTP_HANDLER_* settings; the defaults when omitted).
 */
export function withBuiltins(user: Handlers = {}, http: HttpHandlerOptions = {}): Handlers {
  validateHandlers(user, 'handlers');
  return Object.freeze({ http: createHttpHandler(http), ...user });
}

/**
 * Imports HANDLERS_MODULE: an ES module whose default export maps kind -> async (record, ctx) => void. Its
 * top-level code runs now; if it has not finished within `timeoutMs`, start-up fails saying so.
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
      `${JSON.stringify(path)} has no default export object; expected \`export default { kind: async (record, ctx) => {} }\``,
    );
  }
  validateHandlers(handlers as Record<string, unknown>, 'HANDLERS_MODULE');
  return handlers as Handlers;
}

function validateHandlers(handlers: Record<string, unknown>, variable: string): void {
  for (const [kind, handler] of Object.entries(handlers)) {
    if (typeof handler !== 'function')
      throw new ConfigError(
        variable,
        `handler for kind ${JSON.stringify(kind)} is ${typeof handler}; expected a function (record, ctx) => Promise<void>`,
      );
  }
}

export type { Handler };
