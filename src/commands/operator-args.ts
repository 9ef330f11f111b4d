import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { RecordStatus } from '../db/complete-records.js';
import type { RecordSelector } from '../db/move-records.js';
import { UsageError } from '../errors.js';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "30d", "12h", "90m", "45s", "500ms" -> milliseconds. */
export function parseDuration(option: string, text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new UsageError(option, `expected a duration such as 30d, 12h, 90m or 45s, got ${JSON.stringify(text)}`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/** An ISO time (2026-12-01, 2026-12-01T10:00:00Z) or a duration ago (2h: two hours ago). */
export function parseTime(option: string, text: string, now = Date.now()): Date {
  if (DURATION.test(text.trim())) return new Date(now - parseDuration(option, text));
  const t = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(t))
    throw new UsageError(
      option,
      `expected an ISO time (2026-12-01T10:00:00Z) or a duration ago (2h), got ${JSON.stringify(text)}`,
    );
  return new Date(t);
}

export function parseId(option: string, text: string): number {
  const id = /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(id) || id < 1)
    throw new UsageError(option, `expected a record id (a positive whole number), got ${JSON.stringify(text)}`);
  return id;
}

export function parsePositiveInt(option: string, text: string, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max)
    throw new UsageError(option, `expected a whole number from 1 to ${max}, got ${JSON.stringify(text)}`);
  return n;
}

function nonEmpty(option: string, text: string | undefined): string | undefined {
  if (text !== undefined && text.trim() === '') throw new UsageError(option, 'expected a text, got an empty one');
  return text;
}

/** Options common to requeue, discard, cancel and prune. */
const COMMON = {
  help: { type: 'boolean', short: 'h' },
  actor: { type: 'string' },
  reason: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const SELECT = {
  ...COMMON,
  id: { type: 'string', multiple: true },
  kind: { type: 'string' },
  status: { type: 'string' },
  'error-like': { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  'dry-run': { type: 'boolean' },
  'batch-size': { type: 'string' },
} as const;

/** parseArgs, with its errors (an unknown option, a missing value) as UsageError naming the option. */
function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>({
      args: argv,
      options,
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    const message = (err as Error).message;
    const option = /'(-[-\w]+)/.exec(message)?.[1] ?? 'arguments';
    throw new UsageError(option, message.split('\n')[0]!);
  }
}

export interface Common {
  help: boolean;
  actor: string | undefined;
  reason: string | undefined;
  json: boolean;
}

function common(values: Record<string, unknown>): Common {
  return {
    help: values.help === true,
    actor: nonEmpty('--actor', values.actor as string | undefined),
    reason: nonEmpty('--reason', values.reason as string | undefined),
    json: values.json === true,
  };
}

export interface SelectArgs extends Common {
  selector: RecordSelector;
  dryRun: boolean;
  batchSize: number | undefined;
}

/** `requeue` / `discard` arguments: the selector (status default dead), --dry-run, --batch-size. */
export function parseSelectArgs(argv: string[], movable: readonly RecordStatus[]): SelectArgs {
  const { values, positionals } = parse(argv, SELECT);
  if (positionals.length > 0)
    throw new UsageError(
      'arguments',
      `unexpected ${JSON.stringify(positionals[0])}; select records with --id, --kind, ...`,
    );
  const statuses = (values.status ?? 'dead').split(',').map((s) => s.trim()) as RecordStatus[];
  for (const s of statuses)
    if (!movable.includes(s))
      throw new UsageError(
        '--status',
        `expected one or more (comma-separated) of ${movable.join(', ')}, got ${JSON.stringify(s)}`,
      );
  const selector: RecordSelector = {
    statuses,
    ids: values.id?.map((id) => parseId('--id', id)),
    kind: nonEmpty('--kind', values.kind),
    errorLike: nonEmpty('--error-like', values['error-like']),
    since: values.since === undefined ? undefined : parseTime('--since', values.since),
    until: values.until === undefined ? undefined : parseTime('--until', values.until),
  };
  return {
    ...common(values),
    selector,
    dryRun: values['dry-run'] === true,
    batchSize:
      values['batch-size'] === undefined ? undefined : parsePositiveInt('--batch-size', values['batch-size'], 10_000),
  };
}

/** `cancel ID [--wait 10s]`. */
export function parseCancelArgs(argv: string[]): Common & { recordId: number | undefined; waitMs: number | undefined } {
  const { values, positionals } = parse(argv, { ...COMMON, wait: { type: 'string' } });
  if (positionals.length > 1) throw new UsageError('ID', 'cancel takes one record id');
  return {
    ...common(values),
    recordId: positionals[0] === undefined ? undefined : parseId('ID', positionals[0]),
    waitMs: values.wait === undefined ? undefined : parseDuration('--wait', values.wait),
  };
}

/** `prune --older-than 30d [--succeeded-older-than D] [--batch-size N]`. */
export function parsePruneArgs(argv: string[]): Common & {
  olderThanMs: number | undefined;
  succeededOlderThanMs: number | undefined;
  batchSize: number | undefined;
} {
  const { values, positionals } = parse(argv, {
    ...COMMON,
    'older-than': { type: 'string' },
    'succeeded-older-than': { type: 'string' },
    'batch-size': { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError('arguments', `unexpected ${JSON.stringify(positionals[0])}`);
  const ms = (option: 'older-than' | 'succeeded-older-than') =>
    values[option] === undefined ? undefined : parseDuration(`--${option}`, values[option]);
  return {
    ...common(values),
    olderThanMs: ms('older-than'),
    succeededOlderThanMs: ms('succeeded-older-than'),
    batchSize:
      values['batch-size'] === undefined ? undefined : parsePositiveInt('--batch-size', values['batch-size'], 10_000),
  };
}
