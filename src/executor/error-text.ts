/**
 * What an error may show of a URL: its origin and path. Never the user:password, the query (webhook URLs carry
 * tokens there) or the fragment. An opaque origin (not http or https) is shown as its scheme.
 */
export function shownUrl(url: URL): string {
  return url.origin === 'null' ? url.protocol : `${url.origin}${url.pathname}`;
}

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Text from outside (a response body) made safe to store and print: control and format characters (C0, DEL,
 * C1, bidi overrides, line separators) are written as escapes, so that none can end a line, move a terminal's
 * cursor or reorder what an operator reads.
 */
export function escapeControlCharacters(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, (char) => {
    const named = NAMED[char];
    if (named !== undefined) return named;
    const code = char.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}
