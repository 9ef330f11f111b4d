import { ConfigError } from './errors.js';
import { HOST_PATTERN_FORMS, parseHostPattern } from './executor/target-policy.js';
import type { Kind, Setting } from './settings.js';

/**
 * One setting's value, given as the environment gives it (a string) or as the library API does, checked
 * against its kind. A bad value is a ConfigError naming the variable and what is expected, and never shows
 * a secret: secret settings are not echoed, and URLs are shown as scheme and host only.
 */
export function parseSetting(setting: Setting, value: unknown): unknown {
  const { env, kind } = setting;
  const fail = (): never => {
    throw new ConfigError(
      env,
      `${setting.secret ? 'is malformed' : `got ${shown(value)}`}; expected ${describe(kind)}`,
    );
  };
  switch (kind.type) {
    case 'string':
      if (typeof value !== 'string' || value.trim() === '') return fail();
      return value;
    case 'int': {
      const n =
        typeof value === 'number'
          ? value
          : typeof value === 'string' && /^\s*-?\d+\s*$/.test(value)
            ? Number(value)
            : Number.NaN;
      if (!Number.isSafeInteger(n) || n < kind.min || n > kind.max) return fail();
      return n;
    }
    case 'enum':
      if (typeof value !== 'string' || !kind.values.includes(value)) return fail();
      return value;
    case 'urls': {
      const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : fail();
      const trimmed = items.map((s) => String(s).trim()).filter((s) => s !== '');
      if (trimmed.length === 0) return fail();
      for (const item of trimmed) {
        if (!isUrl(item, kind.protocols))
          throw new ConfigError(env, `item ${shown(originOf(item))} is not a URL; expected ${describe(kind)}`);
      }
      return trimmed;
    }
    case 'hosts': {
      const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : fail();
      const trimmed = items.map((s) => String(s).trim()).filter((s) => s !== '');
      if (trimmed.length === 0) return fail();
      for (const item of trimmed) {
        if (parseHostPattern(item) === undefined)
          throw new ConfigError(
            env,
            `item ${shown(item)} is not a host name, *.suffix, address or CIDR; expected ${describe(kind)}`,
          );
      }
      return trimmed;
    }
    case 'url':
      if (typeof value !== 'string' || !isUrl(value, kind.protocols)) {
        throw new ConfigError(
          env,
          `got ${shown(typeof value === 'string' ? originOf(value) : value)}; expected ${describe(kind)}`,
        );
      }
      return value;
  }
}

function shown(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/**
 * What an error may show of a URL-ish value: its scheme and host only. A password can hold `/` or `@`, and a
 * query `?password=`: anything past the host may be a secret.
 */
function originOf(value: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(value);
  if (!scheme) return value.length > 0 ? '(not a URL)' : '';
  let rest = value.slice(scheme[0].length);
  const query = rest.search(/[?#]/);
  if (query >= 0) rest = rest.slice(0, query);
  // Userinfo ends at the last '@' (a password may hold '/' or '@'); the host is what follows, to the path.
  rest = rest.slice(rest.lastIndexOf('@') + 1);
  const host = rest.split('/')[0] ?? '';
  return `${scheme[0]}${host}${value.length > scheme[0].length + host.length ? '/…' : ''}`;
}

export function describe(kind: Kind): string {
  switch (kind.type) {
    case 'string':
      return 'a non-empty string';
    case 'int':
      return `a whole number from ${kind.min} to ${kind.max}`;
    case 'enum':
      return `one of ${kind.values.join(', ')}`;
    case 'urls':
      return (
        `a comma-separated list of ${kind.protocols.map((p) => `${p}//`).join(' or ')}` +
        ` URLs, e.g. http://10.0.0.1:2379,http://10.0.0.2:2379`
      );
    case 'hosts':
      return `a comma-separated list of ${HOST_PATTERN_FORMS}, e.g. api.example.com,*.svc.example.com,10.0.0.0/8`;
    case 'url':
      return `a URL starting with ${kind.protocols.map((p) => `${p}//`).join(' or ')}`;
  }
}

function isUrl(value: string, protocols: readonly string[]): boolean {
  try {
    const url = new URL(value);
    // postgres:///db?host=/run/postgresql (a Unix socket) has no host part.
    return protocols.includes(url.protocol) && (url.host !== '' || url.searchParams.has('host'));
  } catch {
    return false;
  }
}
