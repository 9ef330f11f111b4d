import { createHash } from 'node:crypto';
import type { QueueStats } from '../db/queue-stats.js';
import type { TermRow } from '../db/recent-terms.js';
import type { DispatchCounts } from './dispatch-metrics.js';
import { html, raw, type SafeHtml, table, td, th } from './html.js';
import type { RecentExecution } from './recent-executions.js';

/** Everything the status page shows; also served as /status.json. */
export interface StatusSnapshot {
  replicaId: string;
  backend: string;
  electionName: string;
  /** Wall-clock time of the snapshot (ISO 8601). */
  generatedAt: string;
  /** This replica's own view: whether it executes a term now. */
  thisReplica: { leading: boolean; epoch: number | null; safeForMs: number | null };
  /** Who leads, by the latest open term in Postgres (or this replica's own view when the database is unreachable). */
  leader: { holder: string; epoch: number; since: string | null } | null;
  /** null when the database did not answer. */
  queue: QueueStats | null;
  /** Per kind; null when the database did not answer. */
  kinds: KindRow[] | null;
  recentExecutions: readonly RecentExecution[];
  /** Newest first; null when the database did not answer. */
  recentTerms: readonly TermRow[] | null;
  /** Whether the page offers actions (HTTP_TOKEN is set). */
  actions: boolean;
  /** EXECUTION_MODE and this replica's dispatch counts. */
  dispatch: DispatchCounts;
}

/** One kind's line on the page. */
export interface KindRow {
  kind: string;
  due: number;
  backoff: number;
  /** Running on this replica now. */
  executing: number;
  succeededLastHour: number;
  deadLastHour: number;
  paused: { by: string; reason: string | null; at: string } | null;
  /** Its concurrency, rate, attempts, timeout and backoff, in a few words. */
  limits: string;
}

/** Seconds between the page's refreshes of itself. */
const REFRESH_SECONDS = 2;

/**
 * The HTML status page: who leads, queue depths, recent executions and recent terms. Every value is
 * escaped (the `html` tag escapes whatever it interpolates unless it is already SafeHtml). It refreshes
 * itself by fetching the page and swapping its <main> (no flicker, scroll kept); without JavaScript a
 * meta refresh does it.
 */
export function renderStatusPage(s: StatusSnapshot): string {
  const now = Date.parse(s.generatedAt);
  // A backslash at the end of a line continues it: the page has no line break there.
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>retry-worker · ${s.replicaId}</title>
<noscript><meta http-equiv="refresh" content="${REFRESH_SECONDS}"></noscript>
<style>${raw(STYLE)}</style>
</head>
<body>
<main>
<header>
  <h1>retry-worker <span class="muted">status</span></h1>
  <p class="muted">replica <code id="replica-id">${s.replicaId}</code> · backend ${s.backend} · \
election ${s.electionName} · <span id="generated-at">${s.generatedAt}</span></p>
</header>
${leaderSection(s, now)}
${dispatchSection(s.dispatch)}
${queueSection(s.queue)}
${kindsSection(s.kinds, now)}
${executionsSection(s.recentExecutions, now)}
${termsSection(s.recentTerms, now)}
</main>
${s.actions ? actionsSection() : ''}
<script>${raw(REFRESH_SCRIPT)}</script>
${s.actions ? html`<script>${raw(ACTION_SCRIPT)}</script>` : ''}
</body>
</html>
`.value;
}

/**
 * The actions form (only with HTTP_TOKEN set), outside <main> so that the refresh keeps what is typed. Each
 * action asks for confirmation and sends the token as a Bearer header, never a cookie.
 */
function actionsSection(): SafeHtml {
  return html`<section id="actions"><h2>Actions</h2>
<form id="action-form" autocomplete="off">
  <select name="action">${PAGE_ACTIONS.map((a) => html`<option>${a}</option>`)}</select>
  <input name="target" required placeholder="record id (requeue, discard, cancel) or kind (pause, resume)" size="40">
  <input name="reason" placeholder="why" size="24"> <input name="actor" placeholder="your name" size="14">
  <input name="token" type="password" required placeholder="HTTP_TOKEN" size="14"> <button>Run…</button>
</form><pre id="action-result" class="muted"></pre></section>`;
}

function leaderSection(s: StatusSnapshot, now: number): SafeHtml {
  const me = s.thisReplica;
  const holderEpoch = (holder: string, epoch: number | null) =>
    html`<strong id="leader-holder">${holder}</strong>, epoch <strong id="leader-epoch">${epoch}</strong>`;
  const since = s.leader?.since ? html` <span class="muted">since ${ago(s.leader.since, now)}</span>` : '';
  const follows = html`<p class="muted">this replica follows</p>`;
  const who = me.leading
    ? html`<p id="leader" class="big ok">This replica leads: ${holderEpoch(s.replicaId, me.epoch)}</p>
       <p class="muted">lease safe for another <span id="safe-for-ms">${me.safeForMs}</span> ms</p>`
    : s.leader
      ? html`<p id="leader" class="big">Leader: ${holderEpoch(s.leader.holder, s.leader.epoch)}${since}</p>
         ${follows}`
      : html`<p id="leader" class="big warn">No leader is recorded in Postgres</p>${follows}`;
  return html`<section><h2>Leadership</h2>${who}</section>`;
}

function dispatchSection(d: DispatchCounts): SafeHtml {
  if (d.mode === 'leader')
    return html`<section><h2>Mode</h2>
      <p id="mode">leader <span class="muted">(only the leader executes)</span></p></section>`;
  const cell = (id: string, label: string, value: number | string) =>
    html`<div class="stat"><div class="num" id="${id}">${value}</div><div class="label">${label}</div></div>`;
  return html`<section><h2>Mode: <span id="mode">dispatch</span>
    <span class="muted">(RabbitMQ; this replica's counts)</span></h2><div class="stats">
    ${cell('dispatch-published', 'published (as leader)', d.published)}
    ${cell('dispatch-republished', 'published again', d.republished)}
    ${cell('dispatch-in-flight', 'in flight', d.inFlight ?? '-')}
    ${cell('dispatch-consumed', 'received', d.consumed)}
    ${cell('dispatch-redelivered', 'redelivered', d.redelivered)}
    ${cell('dispatch-dropped', 'dropped (stale)', d.dropped)}
    ${cell('dispatch-executed', 'executed here', d.executed)}
  </div></section>`;
}

function queueSection(q: QueueStats | null): SafeHtml {
  if (!q) return html`<section><h2>Queue</h2><p class="warn">The database did not answer.</p></section>`;
  const cell = (id: string, label: string, value: number | string, cls = '') =>
    html`<div class="stat ${cls}"><div class="num" id="${id}">${value}</div><div class="label">${label}</div></div>`;
  return html`<section><h2>Queue <span class="muted">(failed_records)</span></h2><div class="stats">
    ${cell('queue-pending', 'pending', q.records.pending)}
    ${cell('queue-due', 'due now', q.due, q.due > 0 ? 'warn' : '')}
    ${cell('queue-oldest-due', 'oldest due waits', `${formatSeconds(q.oldestDueAgeSeconds)}`)}
    ${cell('queue-succeeded', 'succeeded', q.records.succeeded, 'ok')}
    ${cell('queue-dead', 'dead', q.records.dead, q.records.dead > 0 ? 'bad' : '')}
    ${cell('queue-discarded', 'discarded', q.records.discarded)}
    ${cell('queue-cancelled', 'cancelled', q.records.cancelled)}
  </div></section>`;
}

function kindsSection(kinds: readonly KindRow[] | null, now: number): SafeHtml {
  if (!kinds) return html`<section><h2>Kinds</h2><p class="warn">The database did not answer.</p></section>`;
  const rows = kinds.map((k) => {
    const counts = [k.due, k.backoff, k.executing, k.succeededLastHour, k.deadLastHour].map((n) => td(n, 'r'));
    const p = k.paused;
    const why = p?.reason ? `: ${p.reason}` : '';
    const paused = p ? html`<span class="pill dead">paused</span> ${ago(p.at, now)} by ${p.by}${why}` : '';
    return html`<tr>${td(k.kind, 'wrap')}${counts}${td(paused)}${td(k.limits, 'wrap muted')}</tr>`;
  });
  const counted = ['due', 'backoff', 'executing', 'succeeded 1h', 'dead 1h'].map((h) => th(h, 'r'));
  const head = [th('kind'), ...counted, th('paused'), th('limits')];
  return html`<section><h2>Kinds <span class="muted">(executing: on this replica now)</span></h2>
    ${kinds.length === 0 ? html`<p class="muted">No records yet.</p>` : table('kinds', head, rows)}
  </section>`;
}

function executionsSection(items: readonly RecentExecution[], now: number): SafeHtml {
  const rows = items.map((e) => {
    const outcome = html`<span class="pill ${e.outcome}">${e.outcome}</span>`;
    const cells = [td(ago(e.finishedAt, now)), td(e.recordId), td(e.kind, 'wrap'), td(e.attempt), td(e.epoch)];
    return html`<tr>${cells}${td(outcome)}${td(`${e.durationMs} ms`, 'r')}${td(e.error ?? '', 'err')}</tr>`;
  });
  const plain = ['finished', 'record', 'kind', 'attempt', 'epoch', 'outcome'].map((h) => th(h));
  const head = [...plain, th('took', 'r'), th('error')];
  return html`<section><h2>Recent executions <span class="muted">(this replica, last ${items.length})</span></h2>
    ${items.length === 0 ? html`<p class="muted">None yet.</p>` : table('executions', head, rows)}
  </section>`;
}

function termsSection(terms: readonly TermRow[] | null, now: number): SafeHtml {
  if (!terms) return html`<section><h2>Recent terms</h2><p class="warn">The database did not answer.</p></section>`;
  const rows = terms.map((t) => {
    const ended = t.endedAt ? ago(t.endedAt, now) : html`<span class="pill succeeded">leading</span>`;
    const cells = [td(t.epoch), td(t.holder), td(t.backend), td(ago(t.startedAt, now)), td(ended)];
    return html`<tr>${cells}${td(t.endReason ?? '')}${td(t.name)}</tr>`;
  });
  const head = ['epoch', 'holder', 'backend', 'started', 'ended', 'end reason', 'election'].map((h) => th(h));
  return html`<section><h2>Recent terms <span class="muted">(failovers, newest first)</span></h2>
    ${terms.length === 0 ? html`<p class="muted">No term has reached Postgres yet.</p>` : table('terms', head, rows)}
  </section>`;
}

function ago(at: Date | string, now: number): SafeHtml {
  const date = at instanceof Date ? at : new Date(at);
  const iso = date.toISOString();
  const seconds = Math.max(0, (now - date.getTime()) / 1000);
  return html`<time datetime="${iso}" title="${iso}">${formatSeconds(seconds)} ago</time>`;
}

function formatSeconds(seconds: number): string {
  if (seconds < 10) return `${Math.round(seconds * 10) / 10} s`;
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

/** What the page can do with HTTP_TOKEN set (POST /actions/NAME). */
export const PAGE_ACTIONS = ['requeue', 'discard', 'cancel', 'pause', 'resume'] as const;

const ACTION_SCRIPT = `
document.getElementById('action-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const f = new FormData(event.target);
  const action = f.get('action');
  const target = String(f.get('target')).trim();
  const byKind = action === 'pause' || action === 'resume';
  if (!confirm(action + ' ' + (byKind ? 'kind ' : 'record ') + target + '?')) return;
  const body = { reason: f.get('reason') || undefined, actor: f.get('actor') || undefined };
  if (byKind) body.kind = target; else body.id = Number(target);
  const out = document.getElementById('action-result');
  try {
    const res = await fetch(new URL('actions/' + action, location.href), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ' + f.get('token') },
      body: JSON.stringify(body),
    });
    out.textContent = res.status + ' ' + (await res.text());
  } catch (err) {
    out.textContent = String(err);
  }
});`;

const REFRESH_SCRIPT = `
setInterval(async () => {
  try {
    const res = await fetch(location.href, { cache: 'no-store' });
    if (!res.ok) return;
    const next = new DOMParser().parseFromString(await res.text(), 'text/html').querySelector('main');
    if (next) document.querySelector('main').replaceWith(next);
  } catch {}
}, ${REFRESH_SECONDS * 1000});`;

// A backslash at the end of a line continues it: the style has no line break there (nor in its hash).
const STYLE = `
:root { color-scheme: light; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --muted: #57606a; --line: #d0d7de; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; \
background: #f6f8fa; color: #1f2328; }
main { max-width: 1100px; margin: 0 auto; padding: 16px 24px 40px; }
h1 { font-size: 22px; margin: 8px 0 0; } h2 { font-size: 16px; margin: 0 0 8px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px; margin-top: 14px; }
.muted { color: var(--muted); font-weight: normal; } .ok { color: var(--ok); } .warn { color: var(--warn); } \
.bad { color: var(--bad); }
.big { font-size: 20px; margin: 4px 0; }
.stats { display: flex; gap: 12px; flex-wrap: wrap; }
.stat { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 110px; }
.stat .num { font-size: 26px; font-weight: 600; } .stat .label { color: var(--muted); }
table { border-collapse: collapse; width: 100%; } \
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; } td { white-space: nowrap; } .r { text-align: right; }
td.wrap, td.err { white-space: normal; overflow-wrap: anywhere; max-width: 360px; } td.err { color: var(--bad); }
.pill { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; background: #eaeef2; }
.pill.succeeded { background: #dafbe1; color: var(--ok); } .pill.failed { background: #fff8c5; color: var(--warn); }
.pill.dead { background: #ffebe9; color: var(--bad); } .pill.skipped { background: #eaeef2; color: var(--muted); }
code { font-size: 13px; }
#actions { max-width: 1052px; margin: 14px auto; } #actions input, #actions select { margin: 2px 4px 2px 0; }`;

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
}

/**
 * The page's Content-Security-Policy: nothing but its own inline scripts and style (by their hashes) and
 * fetches of itself (the actions' POSTs too); it may not be framed. The actions' script only when they are on.
 */
export function statusPageCsp(actions: boolean): string {
  const scripts = actions ? `${sha256(REFRESH_SCRIPT)} ${sha256(ACTION_SCRIPT)}` : sha256(REFRESH_SCRIPT);
  return (
    `default-src 'none'; script-src ${scripts}; style-src ${sha256(STYLE)}; connect-src 'self'; ` +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
  );
}
