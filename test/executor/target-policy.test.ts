import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  parseAllowHosts,
  parseHostPattern,
  type ResolvedAddress,
  TargetPolicy,
} from '../../src/executor/target-policy.js';

const v4 = (address: string): ResolvedAddress => ({ address, family: 4 });
const v6 = (address: string): ResolvedAddress => ({ address, family: 6 });

test('parseHostPattern reads names, *.suffix patterns, addresses and CIDRs, normalised', () => {
  assert.deepEqual(parseHostPattern(' API.Example.com. '), { type: 'name', name: 'api.example.com' });
  assert.deepEqual(parseHostPattern('*.svc.example'), { type: 'suffix', suffix: 'svc.example' });
  assert.deepEqual(parseHostPattern('10.0.0.0/8'), { type: 'cidr', address: '10.0.0.0', prefix: 8, family: 'ipv4' });
  assert.deepEqual(parseHostPattern('10.1.2.3'), { type: 'cidr', address: '10.1.2.3', prefix: 32, family: 'ipv4' });
  assert.deepEqual(parseHostPattern('FD00::/8'), { type: 'cidr', address: 'fd00::', prefix: 8, family: 'ipv6' });
  assert.deepEqual(parseHostPattern('[::1]'), { type: 'cidr', address: '::1', prefix: 128, family: 'ipv6' });
  assert.deepEqual(parseHostPattern('bücher.example'), { type: 'name', name: 'xn--bcher-kva.example' });
});

for (const bad of [
  '*',
  '*.',
  'a b',
  'example.com:443',
  'http://example.com',
  '10.0.0.0/33',
  '::/129',
  '10.1',
  '-x.com',
]) {
  test(`parseHostPattern refuses ${JSON.stringify(bad)}`, () => {
    assert.equal(parseHostPattern(bad), undefined);
  });
}

test('without an allow-list, link-local and cloud-metadata addresses are refused, in any spelling', () => {
  const policy = new TargetPolicy();
  for (const address of [v4('169.254.169.254'), v4('169.254.1.1'), v6('fe80::1'), v6('fd00:ec2::254')]) {
    assert.match(policy.refusal('x.example', [address]) ?? '', /link-local or cloud-metadata/, address.address);
  }
  // An IPv4-mapped IPv6 address is its IPv4 address.
  assert.match(policy.refusal('::ffff:a9fe:a9fe', [v6('::ffff:a9fe:a9fe')]) ?? '', /HTTP_HANDLER_ALLOW_HOSTS/);
});

test('without an allow-list, the metadata host name is refused whatever it resolves to', () => {
  const refusal = new TargetPolicy().refusal('metadata.google.internal', [v4('10.0.0.1')]);
  assert.match(refusal ?? '', /"metadata.google.internal" is a cloud-metadata service/);
  assert.match(refusal ?? '', /HTTP_HANDLER_ALLOW_HOSTS is unset/);
});

test('without an allow-list, loopback, private and public addresses are allowed', () => {
  const policy = new TargetPolicy();
  for (const address of [v4('127.0.0.1'), v6('::1'), v4('10.0.0.1'), v4('93.184.216.34'), v6('2001:db8::1')])
    assert.equal(policy.refusal('x.example', [address]), undefined, address.address);
});

test('one refused address among those a name resolves to refuses the name', () => {
  const refusal = new TargetPolicy().refusal('rebind.example', [v4('127.0.0.1'), v4('169.254.169.254')]);
  assert.match(refusal ?? '', /host "rebind.example" \(resolved to 169.254.169.254\)/);
});

test('an allow-list with a CIDR and a *.suffix allows exactly what they cover', () => {
  const policy = new TargetPolicy(parseAllowHosts(['10.0.0.0/8', '*.svc.example', 'fd00::/8']));
  assert.equal(policy.refusal('anything.example', [v4('10.1.2.3')]), undefined, 'inside the CIDR');
  assert.equal(policy.refusal('anything.example', [v6('fd12::1')]), undefined, 'inside the IPv6 CIDR');
  assert.equal(policy.refusal('a.svc.example', [v4('192.0.2.1')]), undefined, 'a name under the suffix');
  assert.equal(policy.refusal('b.a.svc.example', [v4('192.0.2.1')]), undefined, 'deeper under the suffix');
  assert.match(policy.refusal('svc.example', [v4('192.0.2.1')]) ?? '', /not in HTTP_HANDLER_ALLOW_HOSTS/);
  assert.match(policy.refusal('evilsvc.example', [v4('192.0.2.1')]) ?? '', /not in HTTP_HANDLER_ALLOW_HOSTS/);
  assert.match(policy.refusal('x.example', [v4('10.1.2.3'), v4('192.0.2.1')]) ?? '', /192.0.2.1/);
  assert.match(policy.refusal('192.0.2.1', [v4('192.0.2.1')]) ?? '', /address 192.0.2.1 is not in/);
  assert.match(policy.refusal('127.0.0.1', [v4('127.0.0.1')]) ?? '', /not in HTTP_HANDLER_ALLOW_HOSTS/);
});

test('a listed name that resolves to a link-local address is refused unless a CIDR lists that address', () => {
  assert.match(
    new TargetPolicy(parseAllowHosts(['*.svc.example'])).refusal('a.svc.example', [v4('169.254.169.254')]) ?? '',
    /link-local or cloud-metadata address; to allow it, list its CIDR in HTTP_HANDLER_ALLOW_HOSTS/,
  );
  const allowed = new TargetPolicy(parseAllowHosts(['169.254.10.0/24']));
  assert.equal(allowed.refusal('device.local', [v4('169.254.10.7')]), undefined);
});

test('parseAllowHosts refuses a bad item with a ConfigError naming the setting and the item', () => {
  assert.throws(() => parseAllowHosts(['10.0.0.0/8', 'example.com:443']), {
    name: 'ConfigError',
    message: /^HTTP_HANDLER_ALLOW_HOSTS: item "example.com:443" is none of host names/,
  });
});
