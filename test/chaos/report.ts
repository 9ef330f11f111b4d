import type { RunResult } from './run-fault.js';

const median = (xs: number[]) => {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
};

/** One Markdown row per fault: runs, records, executions, violations and recovery times. */
export function reportTable(results: readonly RunResult[]): string {
  const faults = [...new Set(results.map((r) => r.fault))];
  const lines = [
    '| fault | runs | records | executions | refused (stale token) | overlaps | epoch violations | lost | over max_attempts | duplicates after success | recovery median / max (ms) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const fault of faults) {
    const rs = results.filter((r) => r.fault === fault);
    const sum = (k: keyof RunResult) => rs.reduce((n, r) => n + (r[k] as number), 0);
    const rec = rs.map((r) => r.recoveryMs).filter((x): x is number => x !== undefined);
    lines.push(
      `| ${fault} | ${rs.length} | ${sum('records')} | ${sum('executions')} | ${sum('refused')} | ${sum('overlaps')} | ${sum('epochViolations')} | ${sum('lost')} | ${sum('overAttempts')} | ${sum('duplicatesAfterSuccess')} | ${median(rec) ?? '–'} / ${rec.length ? Math.max(...rec) : '–'} |`,
    );
  }
  return lines.join('\n');
}
