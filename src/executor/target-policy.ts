import { BlockList, isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { ConfigError } from '../errors.js';

/** The setting that lists the hosts the built-in `http` handler may call. */
const ALLOW_HOSTS_SETTING = 'HTTP_HANDLER_ALLOW_HOSTS';

/** One item of HTTP_HANDLER_ALLOW_HOSTS: a host name, `*.suffix`, or an IPv4/IPv6 address or CIDR. */
export type HostPattern =
  | { type: 'name'; name: string }
  | { type: 'suffix'; suffix: string }
  | { type: 'cidr'; address: string; prefix: number; family: 'ipv4' | 'ipv6' };

export const HOST_PATTERN_FORMS = 'host names, *.suffix patterns and IPv4/IPv6 addresses or CIDRs';

/** An address a host name resolved to, as dns.lookup gives it. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** A host name as the URL parser writes it (lower case, punycode) without a trailing dot; undefined if not one. */
function hostName(text: string): string | undefined {
  const ascii = domainToASCII(text.replace(/\.$/, ''));
  if (ascii === '' || ascii.length > 253 || isIP(ascii) !== 0) return undefined;
  const labels = ascii.split('.');
  // A name whose last label is a number is an IPv4 address to the URL parser (`10.1` is 10.0.0.1).
  if (/^(\d+|0x[0-9a-f]*)$/.test(labels.at(-1)!)) return undefined;
  return labels.every((label) => LABEL.test(label)) ? ascii : undefined;
}

/** Parses one allow-list item; undefined when it is none of the accepted forms. */
export function parseHostPattern(text: string): HostPattern | undefined {
  const item = text.trim();
  const cidr = /^\[?([0-9a-f.:]+)\]?(?:\/(\d{1,3}))?$/i.exec(item);
  if (cidr) {
    const family = isIP(cidr[1]!);
    if (family !== 0) {
      const bits = family === 4 ? 32 : 128;
      const prefix = cidr[2] === undefined ? bits : Number(cidr[2]);
      if (prefix > bits) return undefined;
      return { type: 'cidr', address: cidr[1]!.toLowerCase(), prefix, family: family === 4 ? 'ipv4' : 'ipv6' };
    }
  }
  if (item.startsWith('*.')) {
    const suffix = hostName(item.slice(2));
    return suffix === undefined ? undefined : { type: 'suffix', suffix };
  }
  const name = hostName(item);
  return name === undefined ? undefined : { type: 'name', name };
}

/** HTTP_HANDLER_ALLOW_HOSTS items, parsed; a bad one is a ConfigError naming the setting and the item. */
export function parseAllowHosts(items: readonly string[]): HostPattern[] {
  return items.map((item) => {
    const pattern = parseHostPattern(item);
    if (pattern === undefined)
      throw new ConfigError(ALLOW_HOSTS_SETTING, `item ${JSON.stringify(item)} is none of ${HOST_PATTERN_FORMS}`);
    return pattern;
  });
}

/** Link-local addresses, and the cloud-metadata ones among them and beside them: refused unless a CIDR allows them. */
const DENIED_ADDRESSES = new BlockList();
DENIED_ADDRESSES.addSubnet('169.254.0.0', 16, 'ipv4'); // link-local; 169.254.169.254 is AWS, GCP, Azure metadata
DENIED_ADDRESSES.addSubnet('fe80::', 10, 'ipv6'); // link-local
DENIED_ADDRESSES.addAddress('fd00:ec2::254', 'ipv6'); // AWS metadata over IPv6
/** Metadata services by name: refused unless the allow-list names them exactly. */
const DENIED_NAMES = new Set(['metadata.google.internal']);

/**
 * Which targets the built-in `http` handler may call, judged on the URL's host and on every address it
 * resolved to. Without an allow-list every target is allowed but link-local and cloud-metadata addresses and
 * names. With one, a host matching a name or `*.suffix` item may resolve anywhere but to those, and any host
 * resolving only into listed CIDRs is allowed (a CIDR is the way to allow a link-local address on purpose).
 */
export class TargetPolicy {
  private readonly names = new Set<string>();
  private readonly suffixes: string[] = [];
  private readonly cidrs = new BlockList();

  constructor(private readonly allowHosts?: readonly HostPattern[]) {
    for (const pattern of allowHosts ?? []) {
      if (pattern.type === 'name') this.names.add(pattern.name);
      else if (pattern.type === 'suffix') this.suffixes.push(`.${pattern.suffix}`);
      else this.cidrs.addSubnet(pattern.address, pattern.prefix, pattern.family);
    }
  }

  /** The host as the policy compares it: a URL's hostname without brackets or a trailing dot. */
  static hostOf(url: URL): string {
    return url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  }

  /** Why `host`, resolved to `addresses`, may not be called; undefined when it may. */
  refusal(host: string, addresses: readonly ResolvedAddress[]): string | undefined {
    const listed = this.names.has(host);
    if (DENIED_NAMES.has(host) && !listed)
      return `host "${host}" is a cloud-metadata service; ${this.toAllowIt('name it exactly')}`;
    const nameAllowed = this.allowHosts === undefined || listed || this.suffixes.some((s) => host.endsWith(s));
    for (const { address, family } of addresses) {
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (this.cidrs.check(address, type)) continue;
      if (nameAllowed && !DENIED_ADDRESSES.check(address, type)) continue;
      const shown = address === host ? `address ${address}` : `host "${host}" (resolved to ${address})`;
      if (!nameAllowed) return `${shown} is not in ${ALLOW_HOSTS_SETTING}`;
      return `${shown} is a link-local or cloud-metadata address; ${this.toAllowIt('list its CIDR')}`;
    }
    return undefined;
  }

  private toAllowIt(how: string): string {
    return this.allowHosts === undefined
      ? `${ALLOW_HOSTS_SETTING} is unset, which refuses only these; to allow it, ${how} there`
      : `to allow it, ${how} in ${ALLOW_HOSTS_SETTING}`;
  }
}
