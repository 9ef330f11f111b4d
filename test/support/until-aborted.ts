import type { HandlerContext } from '../../src/executor/handler.js';

/** A handler that waits for its signal to abort and throws the reason; `running` resolves once it has started. */
export function untilAborted() {
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  let reason: unknown;
  const handler = async (_record: unknown, ctx: HandlerContext) => {
    started();
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
    reason = ctx.signal.reason;
    throw ctx.signal.reason;
  };
  return { handler, running, reason: () => reason };
}
