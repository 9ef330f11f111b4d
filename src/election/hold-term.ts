import { sleep } from '../async.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../observability/logger.js';
import type { Term } from './term.js';

/** What a backend does for a lease it holds. */
export interface HeldLease {
  /** One renewal. Resolves with the TTL granted, in ms, or 0 when the backend says the lease is gone. */
  renew(): Promise<number>;
  /** Gives the lease back once the term is over. */
  release(): Promise<void>;
  /** Optional: watches for the lease's loss between renewals (etcd: a watch on the key); returns its stop. */
  guard?(onLost: () => void): () => void;
}

export interface HoldTermArgs {
  term: Term;
  lease: HeldLease;
  onTerm: (term: Term) => Promise<void>;
  renewEveryMs: number;
  renewRetryMs: number;
  marginMs: number;
  clock: Clock;
  /** Bound to the term's epoch. */
  log: Logger;
}

/**
 * Holds a won term for any backend, until `onTerm` settles:
 * - renews every `renewEveryMs`; an acknowledged renewal moves `safeUntil` to send time + granted TTL − margin;
 *   a failed one is retried every `renewRetryMs`; a lease the backend calls gone ends the term (`lease-expired`);
 * - a timer ends the term (`deadline`) the moment safeUntil passes without a renewal;
 * - gives the lease back, once the renewals have stopped, as soon as the term ends for any reason but a
 *   resignation; else when `onTerm` settles (ending the term `released` if it had not ended).
 */
export async function holdTerm(args: HoldTermArgs): Promise<void> {
  const { term, log } = args;
  let deadline: NodeJS.Timeout | undefined;
  const armDeadline = () => {
    clearTimeout(deadline);
    const remainingMs = term.remainingMs();
    if (term.signal.aborted || !Number.isFinite(remainingMs)) return;
    deadline = setTimeout(() => (term.isSafe() ? armDeadline() : term.end('deadline')), Math.max(0, remainingMs) + 1);
  };
  armDeadline();
  const unguard = args.lease.guard?.(() => {
    if (term.signal.aborted) return;
    log.warn('our leader key was deleted');
    term.end('key-deleted');
  });
  const renewals = renew(args, armDeadline);
  let releasing: Promise<boolean> | undefined;
  const release = () =>
    (releasing ??= (async () => {
      clearTimeout(deadline);
      unguard?.();
      await renewals;
      return args.lease.release().then(
        () => true,
        (err: unknown) => {
          log.debug({ err }, 'giving the lease back failed; it will expire by itself');
          return false;
        },
      );
    })());
  // A term lost or given up (lease gone, deadline, fenced, Postgres unreachable, stall) frees the lease at
  // once: the next leader's fence still waits for this term's claim transactions to end. Only a resignation
  // (stop) keeps it until onTerm has settled, so that a graceful handover hands over an idle term.
  const releaseIfLost = () => {
    if (term.endReason !== 'resigned') void release();
  };
  term.signal.addEventListener('abort', releaseIfLost, { once: true });
  try {
    await args.onTerm(term);
  } finally {
    term.signal.removeEventListener('abort', releaseIfLost);
    term.end('released');
    const released = await release();
    log.info({ reason: term.endReason, released }, 'leadership ended');
  }
}

async function renew(
  { term, lease, renewEveryMs, renewRetryMs, marginMs, clock, log }: HoldTermArgs,
  onExtended: () => void,
): Promise<void> {
  while (!term.signal.aborted) {
    await sleep(renewEveryMs, term.signal);
    for (;;) {
      if (term.signal.aborted) return;
      const sentAt = clock();
      try {
        const grantedMs = await lease.renew();
        if (term.signal.aborted) return;
        if (grantedMs <= 0) {
          log.warn('the backend says our lease is gone');
          term.end('lease-expired');
          return;
        }
        term.extend(sentAt + grantedMs - marginMs);
        onExtended();
        break;
      } catch (err) {
        if (term.signal.aborted) return;
        log.warn({ err, safeForMs: Math.round(term.remainingMs()) }, 'lease renewal failed; retrying');
        await sleep(renewRetryMs, term.signal);
      }
    }
  }
}
