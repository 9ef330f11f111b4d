import { NOT_CHECKED, type RunResult, type Violations, violationCount } from './analyse.js';
import type { ExecutionMode } from './fault.js';

const median = (xs: number[]) => {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
};

const VIOLATION_COLUMNS: [keyof Violations, string][] = [
  ['overlaps', 'overlaps'],
  ['staleStarts', 'stale-term starts'],
  ['termOverlaps', 'term overlaps'],
  ['lost', 'lost'],
  ['overAttempts', 'over max_attempts'],
  ['ledgerDuplicates', 'ledger duplicates'],
  ['succeededThenDead', 'succeeded then dead'],
  ['stranded', 'stranded (message lost)'],
  ['faultChecks', 'fault checks'],
];

const PAUSE = 'longest pause median / max (ms)';

const groupKey = (r: RunResult) => `${r.fault}\u0000${r.mode}\u0000${r.backend}\u0000${r.timeout}`;

/** "median / max" of the failovers measured, in ms, and how many runs had none. */
export function failoverCell(rs: readonly RunResult[]): string {
  const ms = rs.map((r) => r.failoverMs).filter((x): x is number => x !== undefined);
  const missing = rs.length - ms.length;
  const cell = ms.length ? `${median(ms)} / ${Math.max(...ms)}` : '–';
  return missing > 0 && ms.length > 0 ? `${cell} (${missing} without)` : cell;
}

/**
 * One Markdown row per fault × backend × execution timeout of one execution mode: the sums over its runs. The
 * columns are the checks the mode makes; dispatch mode adds the oldest dispatch mark seen (max over its runs).
 */
export function reportTable(results: readonly RunResult[], mode: ExecutionMode): string {
  const columns = VIOLATION_COLUMNS.filter(([k]) => !NOT_CHECKED[mode].has(k));
  const dispatch = mode === 'dispatch';
  const header = [
    'fault',
    'backend',
    'execution timeout',
    'runs',
    'records',
    'executions',
    'refused (stale token)',
    ...columns.map(([, title]) => title),
    'overlaps after hang-up',
    'duplicates after success',
    'failover median / max (ms)',
    ...(dispatch ? ['oldest mark max (ms)'] : []),
  ];
  const lines = [`| ${header.join(' | ')} |`, `|---|---|---|${'---:|'.repeat(header.length - 3)}`];
  const groups = new Map<string, RunResult[]>();
  for (const r of results.filter((x) => x.mode === mode))
    groups.set(groupKey(r), [...(groups.get(groupKey(r)) ?? []), r]);
  for (const rs of groups.values()) {
    const sum = (f: (r: RunResult) => number) => rs.reduce((n, r) => n + f(r), 0);
    const first = rs[0]!;
    const cells = [
      first.fault,
      first.backend,
      first.timeout === 'default' ? '60 s (default)' : '1.5 s',
      rs.length,
      sum((r) => r.records),
      sum((r) => r.executions),
      sum((r) => r.refused),
      ...columns.map(([k]) => sum((r) => r.violations[k])),
      sum((r) => r.overlapsAfterHangUp),
      sum((r) => r.duplicatesAfterSuccess),
      failoverCell(rs),
      ...(dispatch ? [Math.max(...rs.map((r) => r.oldestMarkMs ?? 0))] : []),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/**
 * Failover per fault at default settings (TTL 5 s, execution timeout 60 s), all backends together, in one
 * execution mode.
 */
export function failoverTable(
  results: readonly RunResult[],
  mode: ExecutionMode,
  goalFaults: ReadonlySet<string>,
  ttlSeconds: number,
) {
  const goalMs = ttlSeconds * 1000 + 2000;
  const lines = [
    `| fault | backends | runs | failover median / max (ms) | goal: within TTL + 2 s (${goalMs} ms) | ${PAUSE} |`,
    '|---|---|---:|---:|---|---:|',
  ];
  const atDefaults = results.filter((r) => r.mode === mode && r.timeout === 'default' && r.ttlSeconds === ttlSeconds);
  for (const fault of [...new Set(atDefaults.map((r) => r.fault))]) {
    const rs = atDefaults.filter((r) => r.fault === fault);
    const ms = rs.map((r) => r.failoverMs).filter((x): x is number => x !== undefined);
    const met = ms.length === rs.length && ms.every((x) => x <= ttlSeconds * 1000 + 2000);
    const goal = goalFaults.has(fault) ? (met ? 'met' : '**not met**') : 'not asserted (see below)';
    const backends = [...new Set(rs.map((r) => r.backend))].join(', ');
    const pauses = rs.map((r) => r.outageMs);
    const pause = `${median(pauses)} / ${Math.max(...pauses)}`;
    lines.push(`| ${fault} | ${backends} | ${rs.length} | ${failoverCell(rs)} | ${goal} | ${pause} |`);
  }
  return lines.join('\n');
}

/** Runs that violated something, with their notes, and the reasons for duplicates after success. */
export function findings(results: readonly RunResult[]): string {
  const out: string[] = [];
  const late: string[] = [];
  for (const r of results) {
    const line = `- ${r.fault} (${r.mode} mode, ${r.backend}, ${r.timeout}): ${r.notes.slice(0, 6).join('; ')}`;
    if (violationCount(r) > 0) out.push(line);
    else if (r.staleStampedLate > 0) late.push(line);
  }
  const reasons: Record<string, number> = {};
  for (const r of results)
    for (const [why, n] of Object.entries(r.duplicateReasons)) reasons[why] = (reasons[why] ?? 0) + n;
  const dup = Object.entries(reasons)
    .sort((a, b) => b[1] - a[1])
    .map(([why, n]) => `- ${n}: ${why}`);
  return [
    '### Runs with violations',
    '',
    out.length ? out.join('\n') : 'None.',
    '',
    ...(late.length
      ? [
          '### Requests the sink stamped late (not violations)',
          '',
          'Stamped after a newer term was fenced, in the backlog of a stall of this process (which stamps them)',
          "that spanned the fence, with their replica's own log placing their start before it",
          '(test/chaos/stale-evidence.ts):',
          '',
          late.join('\n'),
          '',
        ]
      : []),
    '### Duplicates after success, by reason',
    '',
    dup.length ? dup.join('\n') : 'None.',
  ].join('\n');
}
