import type pg from 'pg';
import type { Config } from '../config.js';
import { withCommandPool } from '../db/pool.js';
import { UsageError } from '../errors.js';
import { cancel } from '../operations/cancel.js';
import { MOVABLE, type MoveResult, moveSelected } from '../operations/move-selected.js';
import { prune } from '../operations/prune.js';
import { parseCancelArgs, parsePruneArgs, parseSelectArgs } from './operator-args.js';

/** Exit codes of the operator commands (also in --help). */
export const OPERATOR_EXIT = { done: 0, failed: 1, usage: 2, notAll: 3 } as const;

export interface Io {
  out: (text: string) => void;
  warn: (text: string) => void;
}

function withPool<T>(config: Config, command: string, use: (pool: pg.Pool) => Promise<T>): Promise<T> {
  return withCommandPool(config.database.url, command, { statement_timeout: 30_000, lock_timeout: 2_000 }, use);
}

const plural = (n: number, word: string, many = `${word}s`) => `${n} ${n === 1 ? word : many}`;

/**
 * `retry-worker requeue|discard [selectors]`: moves the selected records in batches. Exit 0 when every
 * selected record was moved (or would be, with --dry-run); 3 when nothing matched, an --id is unknown or in
 * another status, or a record was skipped because a claim holds it (executing).
 */
export async function runMove(config: Config, action: 'requeue' | 'discard', argv: string[], io: Io): Promise<number> {
  const args = parseSelectArgs(argv, MOVABLE[action]);
  const result = await withPool(config, action, (pool) =>
    moveSelected(pool, action, args.selector, {
      actor: args.actor,
      reason: args.reason,
      dryRun: args.dryRun,
      batchSize: args.batchSize,
    }),
  );
  io.out(args.json ? `${JSON.stringify(result, null, 2)}\n` : describeMove(result, args.selector.statuses));
  const complete =
    result.matched > 0 &&
    result.skippedCount === 0 &&
    result.unknownIds.length === 0 &&
    result.otherStatus.length === 0;
  return complete ? OPERATOR_EXIT.done : OPERATOR_EXIT.notAll;
}

function describeMove(r: MoveResult, statuses: readonly string[]): string {
  const to = r.action === 'requeue' ? 'pending (due now, with a fresh attempt budget)' : 'discarded';
  const lines: string[] = [];
  if (r.matched === 0)
    lines.push(`${r.action}: nothing matched (no ${statuses.join(' or ')} record fits the selectors)`);
  else if (r.dryRun)
    lines.push(`${r.action} --dry-run: would move ${plural(r.moved, 'record')} to ${to}; nothing was changed`);
  else
    lines.push(`${r.action}: moved ${plural(r.moved, 'record')} to ${to} in ${plural(r.batches, 'batch', 'batches')}`);
  if (r.skippedCount > 0)
    lines.push(
      `skipped ${plural(r.skippedCount, 'record')} a claim holds (executing now; try again later): ` +
        `${r.skipped.join(', ')}${r.skippedCount > r.skipped.length ? ', ...' : ''}`,
    );
  if (r.unknownIds.length > 0) lines.push(`no such record: ${r.unknownIds.join(', ')}`);
  for (const o of r.otherStatus) lines.push(`record ${o.id} is ${o.status}, not ${statuses.join(' or ')}: left alone`);
  return `${lines.join('\n')}\n`;
}

/**
 * `retry-worker cancel ID`: 0 cancelled (at once, or its execution aborted by the leader); 3 not cancelled
 * (no such record, already final, finished otherwise first, or still executing when the wait ended).
 */
export async function runCancel(config: Config, argv: string[], io: Io): Promise<number> {
  const args = parseCancelArgs(argv);
  if (args.recordId === undefined) throw new UsageError('ID', 'cancel needs a record id, e.g. retry-worker cancel 42');
  const recordId = args.recordId;
  const result = await withPool(config, 'cancel', (pool) =>
    cancel(pool, recordId, { actor: args.actor, reason: args.reason, waitMs: args.waitMs }),
  );
  const messages = {
    cancelled: `record ${recordId} cancelled`,
    aborted: `record ${recordId} was executing: the leader aborted it, and it is cancelled`,
    'not-found': `no such record: ${recordId}`,
    'still-executing': `record ${recordId} is still executing: the leader was told to cancel it (is a leader running?)`,
    final: `record ${recordId} is ${'status' in result ? result.status : ''} already; nothing to cancel`,
    finished: `record ${recordId} ended ${'status' in result ? result.status : ''} before the cancel reached it`,
  };
  if (args.json) io.out(`${JSON.stringify(result, null, 2)}\n`);
  else io.out(`${messages[result.outcome]}\n`);
  return result.outcome === 'cancelled' || result.outcome === 'aborted' ? OPERATOR_EXIT.done : OPERATOR_EXIT.notAll;
}

/** `retry-worker prune --older-than 30d [--succeeded-older-than D]`: 0 done (also when nothing was old enough). */
export async function runPrune(config: Config, argv: string[], io: Io): Promise<number> {
  const args = parsePruneArgs(argv);
  if (args.olderThanMs === undefined && args.succeededOlderThanMs === undefined)
    throw new UsageError('--older-than', 'prune needs an age, e.g. retry-worker prune --older-than 30d');
  const result = await withPool(config, 'prune', (pool) =>
    prune(pool, {
      succeededOlderThanMs: args.succeededOlderThanMs ?? args.olderThanMs,
      finishedOlderThanMs: args.olderThanMs,
      batchSize: args.batchSize,
    }),
  );
  io.out(
    args.json
      ? `${JSON.stringify(result, null, 2)}\n`
      : `prune: deleted ${plural(result.records, 'finished record')}, ${plural(result.attempts, 'ledger row')} ` +
          `and ${plural(result.actions, 'history row')}\n`,
  );
  return OPERATOR_EXIT.done;
}
