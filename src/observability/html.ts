// HTML built by a tagged template that escapes whatever it interpolates unless it is already SafeHtml
// (the status page's; see status-page.ts).

/** HTML that is already safe to insert. */
export class SafeHtml {
  constructor(readonly value: string) {}
}

export function raw(value: string): SafeHtml {
  return new SafeHtml(value);
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((value, i) => {
    out += toHtml(value) + strings[i + 1]!;
  });
  return new SafeHtml(out);
}

function toHtml(value: unknown): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(toHtml).join('');
  if (value === null || value === undefined) return '';
  return escapeHtml(String(value));
}

/** A table: its header cells and its rows. */
export function table(id: string, head: readonly SafeHtml[], rows: readonly SafeHtml[]): SafeHtml {
  return html`<table id="${id}"><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table>`;
}

export function th(label: string, cls?: string): SafeHtml {
  return cls ? html`<th class="${cls}">${label}</th>` : html`<th>${label}</th>`;
}

export function td(value: unknown, cls?: string): SafeHtml {
  return cls ? html`<td class="${cls}">${value}</td>` : html`<td>${value}</td>`;
}
