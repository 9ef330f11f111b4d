import { spread } from './stats.js';
import type { Measurement } from './workloads/context.js';

const PEER_NAMES: Record<string, string> = {
  ours: '**ours**',
  'graphile-worker': 'graphile-worker',
  'pg-boss': 'pg-boss',
  pgbench: 'pgbench',
  node: 'Node',
};

function format(value: number, metric: string): string {
  if (!Number.isFinite(value)) return '–';
  if (metric.includes('÷') || metric.startsWith('rate with')) return value.toFixed(2);
  if (metric.includes('ms') || metric.includes('MiB') || metric.includes('requests/s'))
    return value < 100 ? value.toFixed(1) : Math.round(value).toLocaleString('en-US');
  return Math.round(value).toLocaleString('en-US');
}

/**
 * The ours measurement a row is compared with: same workload, metric and concurrency (for the references: the
 * drain for pgbench, io for the timers' ceiling).
 */
function oursFor(row: Measurement, all: readonly Measurement[]): Measurement | undefined {
  if (row.peer === 'ours' && !row.config.startsWith('compare')) return undefined;
  all = all.filter((m) => m.peer !== 'ours' || !m.config.startsWith('compare'));
  if (row.workload === 'reference' && row.peer === 'node')
    return all.find((m) => m.peer === 'ours' && m.workload === 'io' && m.concurrency === row.concurrency);
  if (row.workload === 'reference') return all.find((m) => m.peer === 'ours' && m.workload === 'drain');
  if (row.key !== undefined) return all.find((m) => m.peer === 'ours' && m.key === row.key);
  return all.find(
    (m) =>
      m.peer === 'ours' &&
      m.workload === row.workload &&
      m.metric === row.metric &&
      (m.concurrency === row.concurrency ||
        row.workload === 'footprint' ||
        row.workload === 'backlog' ||
        row.workload === 'latency') &&
      (row.workload !== 'footprint' || m.config === 'standby'),
  );
}

/**
 * One row per figure: median of the repetitions, the spread (min–max), and ours ÷ this system's median.
 * For throughput a ratio above 1 favours ours; for latency, memory and the backlog ratio, below 1 does.
 */
export function markdownTable(measurements: readonly Measurement[]): string {
  const lines = [
    '| workload | figure | system | configuration | conc. | median | spread (min–max) | ours ÷ this |',
    '|---|---|---|---|---:|---:|---:|---:|',
  ];
  for (const m of measurements) {
    const s = spread(m.runs);
    const ours = oursFor(m, measurements);
    const ratio = ours ? spread(ours.runs).median / s.median : NaN;
    const spreadText = m.runs.length > 1 ? `${format(s.min, m.metric)}–${format(s.max, m.metric)}` : '(1 run)';
    const ratioText = Number.isFinite(ratio)
      ? `${ratio.toFixed(2)}${ratio !== 0 ? (m.higherIsBetter === ratio >= 1 ? '' : '') : ''}`
      : '';
    lines.push(
      `| ${m.workload} | ${m.metric}${m.note ? ` (${m.note})` : ''} | ${PEER_NAMES[m.peer] ?? m.peer} | ` +
        `${m.config} | ${m.concurrency} | ${format(s.median, m.metric)} | ${spreadText} | ${ratioText} |`,
    );
  }
  return lines.join('\n');
}
