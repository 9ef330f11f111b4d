import type { ExecutionConfig } from '../config.js';
import { ConfigError } from '../errors.js';
import type { Backoff } from './backoff.js';
import type { Handler, HandlerEntry, Handlers, KindPolicy } from './handler.js';

/** A kind's policy with every default filled in: what the loop runs it by. */
export interface Kind {
  readonly name: string;
  readonly handle: Handler;
  /** For records whose max_attempts is NULL (a row's own value wins). */
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly timeoutMs: number;
  /** Executions of this kind at once, on the leader (so across the cluster); undefined: no limit but CONCURRENCY. */
  readonly concurrency: number | undefined;
  /** Starts per second (a token bucket whose burst is one second's worth); undefined: no limit. */
  readonly ratePerSecond: number | undefined;
  /** Whether an error is worth retrying; undefined: every error but PermanentFailure. */
  readonly retryOn: ((error: Error) => boolean) | undefined;
}

/** The kinds a replica knows, by name. */
export class KindRegistry {
  private readonly kinds: ReadonlyMap<string, Kind>;

  /** Later kinds of the same name override earlier ones. */
  constructor(kinds: Iterable<Kind>) {
    this.kinds = new Map([...kinds].map((k) => [k.name, k]));
  }

  get(name: string): Kind | undefined {
    return this.kinds.get(name);
  }

  get names(): string[] {
    return [...this.kinds.keys()].sort();
  }

  /** The kinds with a concurrency or rate limit (the claim takes no more of them than can start soon). */
  limited(): Kind[] {
    return [...this.kinds.values()].filter((k) => k.concurrency !== undefined || k.ratePerSecond !== undefined);
  }
}

const POLICY_FIELDS = ['handle', 'maxAttempts', 'backoff', 'timeoutMs', 'concurrency', 'ratePerSecond', 'retryOn'];
const BACKOFF_FIELDS = ['baseMs', 'maxMs', 'jitter'];

/**
 * Resolves handlers as given (a function, or a policy object `{ handle, maxAttempts, backoff: { baseMs, maxMs,
 * jitter }, timeoutMs, concurrency, ratePerSecond, retryOn }`) against the global settings, which are the
 * defaults. A policy with an unknown field or a bad value is a ConfigError naming `variable`, the kind and the
 * field.
 */
export function resolveKinds(handlers: Handlers, defaults: ExecutionConfig, variable: string): Kind[] {
  return Object.entries(handlers).map(([name, entry]) => resolveKind(name, entry, defaults, variable));
}

function resolveKind(name: string, entry: HandlerEntry, defaults: ExecutionConfig, variable: string): Kind {
  const fail = (field: string, expected: string): never => {
    throw new ConfigError(variable, `kind ${JSON.stringify(name)}: ${field} ${expected}`);
  };
  const base: Kind = {
    name,
    handle: entry as Handler,
    maxAttempts: defaults.defaultMaxAttempts,
    backoff: { baseMs: defaults.backoffBaseMs, maxMs: defaults.backoffMaxMs, jitter: 0.5 },
    timeoutMs: defaults.timeoutMs,
    concurrency: undefined,
    ratePerSecond: undefined,
    retryOn: undefined,
  };
  if (typeof entry === 'function') return base;
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    return fail('handler', `is ${entry === null ? 'null' : typeof entry}; expected a function or a policy object`);
  }
  const policy = entry as KindPolicy & Record<string, unknown>;
  for (const field of Object.keys(policy)) {
    if (!POLICY_FIELDS.includes(field))
      fail(field, `is not a policy field; expected one of ${POLICY_FIELDS.join(', ')}`);
  }
  if (typeof policy.handle !== 'function') fail('handle', 'must be a function (record, ctx) => Promise<void>');
  const int = (field: string, value: unknown, min: number, max: number): number | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      return fail(field, `is ${JSON.stringify(value)}; expected a whole number from ${min} to ${max}`);
    }
    return value;
  };
  const backoff = { ...base.backoff };
  if (policy.backoff !== undefined) {
    if (typeof policy.backoff !== 'object' || policy.backoff === null)
      fail('backoff', 'must be an object { baseMs, maxMs, jitter }');
    for (const field of Object.keys(policy.backoff)) {
      if (!BACKOFF_FIELDS.includes(field))
        fail(`backoff.${field}`, `is not a backoff field; expected one of ${BACKOFF_FIELDS.join(', ')}`);
    }
    backoff.baseMs = int('backoff.baseMs', policy.backoff.baseMs, 0, 86_400_000) ?? backoff.baseMs;
    backoff.maxMs = int('backoff.maxMs', policy.backoff.maxMs, 0, 604_800_000) ?? backoff.maxMs;
    const jitter = policy.backoff.jitter;
    if (jitter !== undefined && (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1))) {
      fail(
        'backoff.jitter',
        `is ${JSON.stringify(jitter)}; expected a fraction from 0 (none) to 1 (all of the delay random)`,
      );
    }
    backoff.jitter = jitter ?? backoff.jitter;
    if (backoff.maxMs < backoff.baseMs)
      fail('backoff.maxMs', `is below backoff.baseMs (${backoff.baseMs}); expected a cap at least as large`);
  }
  const rate = policy.ratePerSecond;
  if (rate !== undefined && (typeof rate !== 'number' || !(rate > 0 && rate <= 1_000_000))) {
    fail('ratePerSecond', `is ${JSON.stringify(rate)}; expected a number above 0 (starts per second)`);
  }
  if (policy.retryOn !== undefined && typeof policy.retryOn !== 'function')
    fail('retryOn', 'must be a function (error) => boolean');
  return {
    name,
    handle: policy.handle,
    maxAttempts: int('maxAttempts', policy.maxAttempts, 1, 1_000_000) ?? base.maxAttempts,
    backoff,
    timeoutMs: int('timeoutMs', policy.timeoutMs, 10, 3_600_000) ?? base.timeoutMs,
    concurrency: int('concurrency', policy.concurrency, 1, 10_000),
    ratePerSecond: rate,
    retryOn: policy.retryOn,
  };
}

/** A kind's limits and policy in a few words, for `status` and the page. */
export function describeLimits(kind: Kind): string {
  const parts = [
    kind.concurrency !== undefined ? `concurrency ${kind.concurrency}` : undefined,
    kind.ratePerSecond !== undefined ? `${kind.ratePerSecond}/s` : undefined,
    `${kind.maxAttempts} attempts`,
    `timeout ${kind.timeoutMs / 1000} s`,
    `backoff ${kind.backoff.baseMs}-${kind.backoff.maxMs} ms`,
    kind.retryOn ? 'retryOn' : undefined,
  ];
  return parts.filter((p) => p !== undefined).join(', ');
}
