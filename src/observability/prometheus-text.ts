/**
 * Prometheus' text exposition format (version 0.0.4), for the few metric families a replica has. Pure
 * functions: the caller gathers values, these only spell them.
 */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  labels?: Labels;
  value: number;
}

/** Cumulative bucket counts for one label set: `counts[i]` observations were ≤ `bounds[i]`. */
export interface HistogramSample {
  labels: Labels;
  bounds: readonly number[];
  counts: readonly number[];
  sum: number;
  count: number;
}

export function counterOrGauge(name: string, type: 'counter' | 'gauge', help: string, samples: readonly Sample[]): string {
  return header(name, type, help) + samples.map((s) => `${name}${labelText(s.labels)} ${number(s.value)}\n`).join('');
}

export function histogram(name: string, help: string, samples: readonly HistogramSample[]): string {
  let text = header(name, 'histogram', help);
  for (const s of samples) {
    s.bounds.forEach((bound, i) => (text += `${name}_bucket${labelText({ ...s.labels, le: number(bound) })} ${s.counts[i]}\n`));
    text += `${name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}\n`;
    text += `${name}_sum${labelText(s.labels)} ${number(s.sum)}\n`;
    text += `${name}_count${labelText(s.labels)} ${s.count}\n`;
  }
  return text;
}

function header(name: string, type: string, help: string): string {
  return `# HELP ${name} ${help.replaceAll('\\', '\\\\').replaceAll('\n', '\\n')}\n# TYPE ${name} ${type}\n`;
}

function labelText(labels: Labels | undefined): string {
  if (!labels) return '';
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`);
  return pairs.length > 0 ? `{${pairs.join(',')}}` : '';
}

function number(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}
