import { relative } from './explain-record.js';
import type { ClusterStatus, RecordStatusReport } from './read-status.js';

/** A plain-text table: columns padded to their widest cell. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].map((l) => `  ${l}`).join('\n');
}

const ago = (d: Date | null, now: Date) => (d ? relative(d, now) : '-');

/**
 * Text as a terminal may print it: control characters other than newline and tab (an escape sequence in an
 * error a remote server sent back could move the cursor, rewrite the screen or set the window title) are
 * shown as \xNN.
 */
export function printable(text: string): string {
  return text.replace(CONTROL_CHARACTERS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what printable() escapes
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** `retry-worker status` for people. */
export function formatClusterStatus(s: ClusterStatus): string {
  const now = new Date(s.generatedAt);
  const out: string[] = [];
  const l = s.leader;
  out.push(`election ${JSON.stringify(s.electionName)}`);
  if (l.state === 'leading')
    out.push(
      `leader: ${l.holder}, epoch ${l.epoch}, since ${l.since!.toISOString()} (${ago(l.since, now)})` +
        `${l.backend ? `, backend ${l.backend}` : ''}`,
    );
  else if (l.state === 'unconfirmed') out.push(`leader: unconfirmed: ${l.note}`);
  else out.push(`leader: none right now: ${l.note}`);
  out.push('');
  out.push(`replicas seen in the last 10 min: ${s.replicas.length}`);
  if (s.replicas.length > 0) {
    out.push(
      table(
        ['replica', 'state', 'mode', 'leading epoch', 'last seen', 'up since', 'host/pid', 'backend'],
        s.replicas.map((r) => [
          r.replicaId,
          r.state,
          r.mode,
          r.leadingEpoch === null ? '-' : String(r.leadingEpoch),
          `${r.ageSeconds.toFixed(1)} s ago`,
          r.startedAt.toISOString(),
          `${r.host}/${r.pid}`,
          r.backend,
        ]),
      ),
    );
  }
  const d = s.dispatch;
  if (d.inFlight > 0 || s.replicas.some((r) => r.mode === 'dispatch')) {
    out.push(`dispatch: ${d.inFlight} messages in flight (${d.overdue} overdue: published again by the leader)`);
  }
  if (d.recentByReplica.length > 0) {
    const spread = d.recentByReplica.map((r) => `${r.replicaId} ${r.attempts}`).join(', ');
    out.push(`executions per replica, of the latest ${d.recent} attempts: ${spread}`);
  }
  out.push('');
  const q = s.queue;
  out.push('records:');
  out.push(
    table(
      ['status', 'count'],
      [...Object.entries(q.records).map(([k, v]) => [k, String(v)]), ['due now', String(q.due)]],
    ),
  );
  out.push(`oldest due record waiting: ${q.due > 0 ? `${q.oldestDueAgeSeconds.toFixed(1)} s` : 'none due'}`);
  out.push('');
  out.push('kinds (executing: attempts of the current term without an outcome yet):');
  if (s.kinds.length > 0) {
    out.push(
      table(
        ['kind', 'due', 'backoff', 'executing', 'succeeded 1h', 'dead 1h', 'paused'],
        s.kinds.map((k) => [
          k.kind,
          String(k.due),
          String(k.backoff),
          String(k.executing),
          String(k.succeededLastHour),
          String(k.deadLastHour),
          k.paused
            ? `since ${k.paused.at.toISOString()} by ${k.paused.by}${k.paused.reason ? `: ${k.paused.reason}` : ''}`
            : '-',
        ]),
      ),
    );
  } else out.push('  none');
  out.push('');
  out.push(`last ${s.recentTerms.length} terms (failovers), newest first:`);
  if (s.recentTerms.length > 0) {
    out.push(
      table(
        ['epoch', 'holder', 'backend', 'started', 'ended', 'reason'],
        s.recentTerms.map((t) => [
          String(t.epoch),
          t.holder,
          t.backend,
          t.startedAt.toISOString(),
          t.endedAt ? t.endedAt.toISOString() : 'open',
          t.endReason ?? (t.endedAt ? '-' : ''),
        ]),
      ),
    );
  }
  return printable(`${out.join('\n')}\n`);
}

/** `retry-worker status --record ID` for people. */
export function formatRecordStatus(report: RecordStatusReport): string {
  const e = report.explanation;
  const out = [`record ${e.recordId}: ${e.state}`, `  ${e.summary}`];
  for (const d of e.details) out.push(`  - ${d}`);
  if (report.attempts.length > 0 && report.record) {
    out.push('', 'attempt ledger, newest first:');
    out.push(
      table(
        ['attempt', 'replica', 'epoch', 'started', 'outcome', 'error'],
        report.attempts.map((a) => [
          String(a.attempt),
          a.replicaId,
          String(a.epoch),
          `${a.startedAt.toISOString()} (${relative(a.startedAt, report.record!.now)})`,
          a.outcome ?? 'open',
          (a.error ?? '').slice(0, 80),
        ]),
      ),
    );
  }
  return printable(`${out.join('\n')}\n`);
}
