import { PermanentFailure } from '../errors.js';

export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

export interface HttpPayload {
  url: string;
  method: (typeof METHODS)[number];
  /** Valid HTTP header names and values, as the payload spelled them. */
  headers: Record<string, string>;
  body: unknown;
}

/** A header name: an RFC 9110 token. */
const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
/** What Node sends in a header value: tab, visible ASCII, space, and Latin-1; never CR, LF, NUL or a control. */
const INVALID_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * Headers the connection owns: a payload that sets them is malformed. Host would also name another virtual host
 * than the one HTTP_HANDLER_ALLOW_HOSTS allowed.
 */
const CONNECTION_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'upgrade',
  'te',
  'trailer',
  'expect',
]);

/** Validates an `http` record's payload; a malformed one is a permanent failure whose message shows no secret. */
export function parseHttpPayload(payload: unknown): HttpPayload {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new PermanentFailure('http payload must be a JSON object with at least "url"');
  }
  const p = payload as Record<string, unknown>;
  if (typeof p.url !== 'string') throw new PermanentFailure('http payload: "url" must be a string');
  let url: URL;
  try {
    url = new URL(p.url);
  } catch {
    // Not shown: what the URL would have held past its host may be a secret.
    throw new PermanentFailure('http payload: "url" is not a valid absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new PermanentFailure(`http payload: "url" must be http or https, got ${url.protocol}`);
  const method = p.method === undefined ? 'POST' : typeof p.method === 'string' ? p.method.toUpperCase() : undefined;
  if (method === undefined || !(METHODS as readonly string[]).includes(method)) {
    throw new PermanentFailure(
      `http payload: "method" must be one of ${METHODS.join(', ')}, got ${JSON.stringify(p.method)}`,
    );
  }
  const headers = parseHeaders(p.headers);
  if ((method === 'GET' || method === 'HEAD') && p.body !== undefined)
    throw new PermanentFailure(`http payload: a ${method} request cannot have a "body"`);
  return { url: url.toString(), method: method as HttpPayload['method'], headers, body: p.body };
}

/** The payload's headers, each name and value checked; an error names the header and never shows its value. */
function parseHeaders(raw: unknown): Record<string, string> {
  const headers: Record<string, string> = {};
  if (raw === undefined) return headers;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new PermanentFailure('http payload: "headers" must be an object of strings');
  for (const [name, value] of Object.entries(raw)) {
    const bad = [...name].findIndex((char) => !TOKEN_CHAR.test(char));
    if (name === '' || bad >= 0) {
      // Only what comes before the first bad character: a name like "X-Key: s3cret" must not show the rest.
      const what =
        bad >= 0
          ? `${JSON.stringify(name.slice(0, bad))}… has an invalid character at position ${bad + 1}`
          : '"" is empty';
      throw new PermanentFailure(`http payload: header name ${what}; expected letters, digits and !#$%&'*+-.^_\`|~`);
    }
    if (CONNECTION_HEADERS.has(name.toLowerCase()))
      throw new PermanentFailure(`http payload: header "${name}" is set by the connection itself; remove it`);
    if (typeof value !== 'string') throw new PermanentFailure(`http payload: header "${name}" must be a string`);
    if (INVALID_VALUE_CHAR.test(value)) {
      throw new PermanentFailure(
        `http payload: header "${name}" has a value with a character HTTP does not allow (CR, LF, NUL, another ` +
          'control character, or one beyond Latin-1); the value is not shown',
      );
    }
    headers[name] = value;
  }
  return headers;
}
