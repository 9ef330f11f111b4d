import type { IncomingMessage } from 'node:http';
import type pg from 'pg';
import { pauseKind, resumeKind } from '../db/pause-kind.js';
import { cancel } from '../operations/cancel.js';
import { MOVABLE, moveSelected } from '../operations/move-selected.js';
import type { Logger } from './logger.js';
import { PAGE_ACTIONS } from './status-page.js';

type PageAction = (typeof PAGE_ACTIONS)[number];

/** The largest request body an action takes. */
const MAX_BODY_BYTES = 4_096;

export interface ActionAnswer {
  status: number;
  body: unknown;
}

/**
 * POST /actions/{requeue,discard,cancel,pause,resume} with a JSON body: `id` (a record, for requeue, discard
 * and cancel) or `kind` (pause, resume), and optional `reason` and `actor`. The caller has checked the token.
 * Each action is logged with its requester (the `actor` given, and the client's address) and kept in the
 * record's history as `page:<actor>`.
 */
export async function runPageAction(
  pool: pg.Pool,
  action: string,
  req: IncomingMessage,
  log: Logger,
): Promise<ActionAnswer> {
  if (!(PAGE_ACTIONS as readonly string[]).includes(action))
    return { status: 404, body: { error: `no such action; expected one of ${PAGE_ACTIONS.join(', ')}` } };
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? ''))
    return { status: 415, body: { error: 'send the action as application/json' } };
  let input: Record<string, unknown>;
  try {
    const parsed = JSON.parse(await readBody(req)) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    input = parsed as Record<string, unknown>;
  } catch (err) {
    return { status: 400, body: { error: `the body must be a JSON object: ${(err as Error).message}` } };
  }
  const text = (name: string): string | undefined => {
    const value = input[name];
    return typeof value === 'string' && value.trim() !== '' ? value.trim().slice(0, 200) : undefined;
  };
  const actor = `page:${text('actor') ?? 'anonymous'}`;
  const reason = text('reason');
  const requester = { actor, address: req.socket.remoteAddress };
  const byKind = action === 'pause' || action === 'resume';
  const id = input.id;
  const kind = text('kind');
  if (byKind ? kind === undefined : !(typeof id === 'number' && Number.isSafeInteger(id) && id > 0))
    return { status: 400, body: { error: byKind ? 'kind: expected a kind' : 'id: expected a record id' } };
  log.info({ action, target: byKind ? kind : id, reason, requester }, 'page action requested');
  const result = await perform(pool, action as PageAction, { id: id as number, kind: kind!, actor, reason });
  log.info({ action, target: byKind ? kind : id, requester, result }, 'page action done');
  return { status: 200, body: result };
}

async function perform(
  pool: pg.Pool,
  action: PageAction,
  args: { id: number; kind: string; actor: string; reason: string | undefined },
): Promise<unknown> {
  switch (action) {
    case 'requeue':
    case 'discard':
      return moveSelected(
        pool,
        action,
        { ids: [args.id], statuses: MOVABLE[action] },
        { actor: args.actor, reason: args.reason },
      );
    case 'cancel':
      return cancel(pool, args.id, { actor: args.actor, reason: args.reason, waitMs: 5_000 });
    case 'pause':
      return pauseKind(pool, args.kind, args.actor, args.reason ?? null);
    case 'resume':
      return { kind: args.kind, wasPaused: await resumeKind(pool, args.kind) };
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
