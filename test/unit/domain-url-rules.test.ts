import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkReceiverUrl, checkResolvedAddress, classifyAddress, MAX_URL_LENGTH, type UrlPolicy } from '../../src/domain/url-rules.ts';
import { ACCEPTED_URLS, PRIVATE_TARGETS_ACCEPTED, PRIVATE_TARGETS_REFUSED, REFUSED_URLS } from '../fixtures/hostile-urls.ts';

const PERMISSIVE: UrlPolicy = { allowPrivateTargets: true };

function reasonFor(url: string, policy?: UrlPolicy): string {
  const verdict = checkReceiverUrl(url, policy);
  assert.equal(verdict.ok, false, `expected ${JSON.stringify(url)} to be refused`);
  return verdict.ok ? '' : verdict.reason;
}

function acceptedHref(url: string, policy?: UrlPolicy): string {
  const verdict = checkReceiverUrl(url, policy);
  assert.ok(verdict.ok, `expected ${JSON.stringify(url)} to be accepted, got: ${verdict.ok ? '' : verdict.reason}`);
  return verdict.url.href;
}

describe('corpus sizes', () => {
  test('the shared corpus is as large as promised', () => {
    assert.ok(REFUSED_URLS.length >= 90, `${REFUSED_URLS.length} refused`);
    assert.ok(ACCEPTED_URLS.length >= 25, `${ACCEPTED_URLS.length} accepted`);
    assert.ok(PRIVATE_TARGETS_ACCEPTED.length >= 3);
    assert.equal(new Set(REFUSED_URLS.map((entry) => entry.url)).size, REFUSED_URLS.length, 'no duplicates');
    assert.equal(new Set(ACCEPTED_URLS).size, ACCEPTED_URLS.length, 'no duplicates');
  });
});

describe('checkReceiverUrl, default policy', () => {
  for (const { url, why } of REFUSED_URLS) {
    test(`refuses ${why}: ${JSON.stringify(url.length > 80 ? `${url.slice(0, 80)}…` : url)}`, () => {
      const reason = reasonFor(url);
      assert.match(reason, /\S/);
      assert.ok(!reason.includes('\n'), 'one line');
      assert.ok(reason.length < 200, 'short enough to read');
    });
  }

  for (const url of ACCEPTED_URLS) {
    test(`accepts ${url}`, () => {
      acceptedHref(url);
    });
  }

  test('returns the canonical URL to store', () => {
    assert.equal(acceptedHref('HTTPS://EXAMPLE.COM:443/Hook'), 'https://example.com/Hook');
    assert.equal(acceptedHref('https://bücher.example/'), 'https://xn--bcher-kva.example/');
    assert.equal(acceptedHref('https://134744072/'), 'https://8.8.8.8/');
    assert.equal(acceptedHref('https://[2001:4860:4860:0:0:0:0:8888]/'), 'https://[2001:4860:4860::8888]/');
  });

  test('judges the host the URL parser connects to, not the text around it', () => {
    // A backslash ends the authority of an https URL: the host is example.com.
    const verdict = checkReceiverUrl('https://example.com\\@127.0.0.1/');
    assert.ok(verdict.ok);
    assert.equal(verdict.url.hostname, 'example.com');
    // A leading zero makes an octet octal: 0127 is 87, a public address.
    assert.equal(acceptedHref('https://0127.0.0.1/'), 'https://87.0.0.1/');
  });

  test('does not resolve names', () => {
    // Would resolve to 127.0.0.1, but DNS is only consulted before a delivery.
    acceptedHref('https://127.0.0.1.nip.io/');
  });

  test('the length limit is inclusive of 2048', () => {
    const base = 'https://example.com/';
    acceptedHref(base + 'a'.repeat(MAX_URL_LENGTH - base.length));
    assert.equal(reasonFor(base + 'a'.repeat(MAX_URL_LENGTH - base.length + 1)), 'the receiver URL is longer than 2048 characters');
  });

  test('refuses non-string input at run time', () => {
    assert.equal(checkReceiverUrl(42 as unknown as string).ok, false);
    assert.equal(checkReceiverUrl(undefined as unknown as string).ok, false);
  });
});

describe('reason wording', () => {
  const cases: Array<[string, string]> = [
    ['https://10.0.0.5/', '10.0.0.5 is a private RFC 1918 address'],
    ['http://example.com/', 'http:// receivers are refused: the platform delivers over HTTPS only'],
    ['https://127.0.0.1/', '127.0.0.1 is a loopback address'],
    ['https://2130706433/', '127.0.0.1 is a loopback address'],
    ['https://localhost/', 'localhost names are refused'],
    ['https://x.localhost./', 'localhost names are refused'],
    ['https://user:pass@example.com/', 'URLs with a user name or password are refused'],
    ['https://[::ffff:10.0.0.1]/', '::ffff:10.0.0.1 is an IPv4-mapped form of 10.0.0.1, a private RFC 1918 address'],
    ['https://[::ffff:7f00:1]/', '::ffff:127.0.0.1 is an IPv4-mapped form of 127.0.0.1, a loopback address'],
    ['https://[::127.0.0.1]/', '::127.0.0.1 is an IPv4-compatible form of 127.0.0.1, a loopback address'],
    ['https://[64:ff9b::a00:1]/', '64:ff9b::10.0.0.1 is a NAT64 form of 10.0.0.1, a private RFC 1918 address'],
    ['https://[2002:a9fe:a9fe::]/', '2002:a9fe:a9fe:: is a 6to4 address embedding 169.254.169.254, a link-local address (169.254.0.0/16)'],
    ['https://169.254.169.254/', '169.254.169.254 is a link-local address (169.254.0.0/16)'],
    ['https://100.64.0.1/', '100.64.0.1 is a carrier-grade NAT (CGNAT) address in 100.64.0.0/10'],
    ['https://0.0.0.0/', '0.0.0.0 is an unspecified address (0.0.0.0/8)'],
    ['https://224.0.0.251/', '224.0.0.251 is a multicast address (224.0.0.0/4)'],
    ['https://255.255.255.255/', '255.255.255.255 is the broadcast address'],
    ['https://[::1]/', '::1 is the IPv6 loopback address'],
    ['https://[::]/', ':: is the unspecified IPv6 address'],
    ['https://[fd00::5]/', 'fd00::5 is a unique-local IPv6 address (fc00::/7)'],
    ['https://[fe80::5]/', 'fe80::5 is a link-local IPv6 address (fe80::/10)'],
    ['https://[ff02::fb]/', 'ff02::fb is an IPv6 multicast address (ff00::/8)'],
    ['ftp://example.com/', 'ftp: URLs are refused: receivers must use https://'],
    ['example.com/hook', 'the receiver URL has no scheme: write it starting with https://'],
    ['', 'the receiver URL is empty'],
    ['not a url', 'the receiver URL contains spaces, control characters or invisible characters'],
    ['https://', 'the receiver URL is not a valid absolute URL'],
    ['https://[fe80::1%25eth0]/', 'IPv6 zone ids (the %25 suffix) are not allowed in a receiver URL'],
    ['https://example.com/#top', 'URLs with a #fragment are refused: the fragment is never sent to the receiver'],
    ['https://example.com:0/', 'port 0 cannot receive connections'],
  ];
  for (const [url, expected] of cases) {
    test(`${JSON.stringify(url)} -> ${expected}`, () => {
      assert.equal(reasonFor(url), expected);
    });
  }

  test('a refused URL never echoes its password', () => {
    const reason = reasonFor('https://admin:hunter2@127.0.0.1/');
    assert.ok(!reason.includes('hunter2'));
    assert.ok(!reasonFor('https://admin:hunter2@[bad/').includes('hunter2'));
  });
});

describe('checkResolvedAddress', () => {
  const refused: Array<[string, string]> = [
    ['127.0.0.1', '127.0.0.1 is a loopback address'],
    ['10.1.2.3', '10.1.2.3 is a private RFC 1918 address'],
    ['172.20.0.1', '172.20.0.1 is a private RFC 1918 address'],
    ['192.168.10.10', '192.168.10.10 is a private RFC 1918 address'],
    ['169.254.169.254', '169.254.169.254 is a link-local address (169.254.0.0/16)'],
    ['100.100.100.200', '100.100.100.200 is a carrier-grade NAT (CGNAT) address in 100.64.0.0/10'],
    ['0.0.0.0', '0.0.0.0 is an unspecified address (0.0.0.0/8)'],
    ['239.1.1.1', '239.1.1.1 is a multicast address (224.0.0.0/4)'],
    ['250.1.1.1', '250.1.1.1 is a reserved address (240.0.0.0/4)'],
    ['::1', '::1 is the IPv6 loopback address'],
    ['0:0:0:0:0:0:0:1', '::1 is the IPv6 loopback address'],
    ['::', ':: is the unspecified IPv6 address'],
    ['fc00::1', 'fc00::1 is a unique-local IPv6 address (fc00::/7)'],
    ['fdff:ffff::1', 'fdff:ffff::1 is a unique-local IPv6 address (fc00::/7)'],
    ['fe80::1ff:fe23:4567:890a', 'fe80::1ff:fe23:4567:890a is a link-local IPv6 address (fe80::/10)'],
    ['fe80::1%eth0', 'fe80::1 is a link-local IPv6 address (fe80::/10)'],
    ['ff0e::1', 'ff0e::1 is an IPv6 multicast address (ff00::/8)'],
    ['::ffff:127.0.0.1', '::ffff:127.0.0.1 is an IPv4-mapped form of 127.0.0.1, a loopback address'],
    ['::ffff:7f00:1', '::ffff:127.0.0.1 is an IPv4-mapped form of 127.0.0.1, a loopback address'],
    ['::FFFF:C0A8:0101', '::ffff:192.168.1.1 is an IPv4-mapped form of 192.168.1.1, a private RFC 1918 address'],
    ['::a00:1', '::10.0.0.1 is an IPv4-compatible form of 10.0.0.1, a private RFC 1918 address'],
    ['64:ff9b::7f00:1', '64:ff9b::127.0.0.1 is a NAT64 form of 127.0.0.1, a loopback address'],
    ['2002:7f00:1::1', '2002:7f00:1::1 is a 6to4 address embedding 127.0.0.1, a loopback address'],
  ];
  for (const [address, reason] of refused) {
    test(`refuses ${address}`, () => {
      assert.equal(checkResolvedAddress(address), reason);
    });
  }

  for (const address of ['93.184.215.14', '8.8.8.8', '2001:4860:4860::8888', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::', '2606:4700::1111']) {
    test(`allows ${address}`, () => {
      assert.equal(checkResolvedAddress(address), null);
    });
  }

  test('a resolved value that is not an IP address is refused, even when private targets are allowed', () => {
    for (const value of ['example.com', '127.1', '', '[::1]', '2130706433']) {
      assert.match(checkResolvedAddress(value) ?? '', /is not an IP address$/);
      assert.match(checkResolvedAddress(value, PERMISSIVE) ?? '', /is not an IP address$/);
    }
  });

  test('allowPrivateTargets lets every address through', () => {
    for (const [address] of refused) assert.equal(checkResolvedAddress(address, PERMISSIVE), null);
  });
});

describe('boundaries', () => {
  const expectations: Array<[string, string | null]> = [
    ['9.255.255.255', null],
    ['10.0.0.0', 'private'],
    ['10.255.255.255', 'private'],
    ['11.0.0.0', null],
    ['172.15.255.255', null],
    ['172.16.0.0', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.0', null],
    ['192.167.255.255', null],
    ['192.168.0.0', 'private'],
    ['192.168.255.255', 'private'],
    ['192.169.0.0', null],
    ['100.63.255.255', null],
    ['100.64.0.0', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['100.128.0.0', null],
    ['126.255.255.255', null],
    ['127.0.0.0', 'loopback'],
    ['127.255.255.255', 'loopback'],
    ['128.0.0.0', null],
    ['169.253.255.255', null],
    ['169.254.0.0', 'link-local'],
    ['169.254.255.255', 'link-local'],
    ['169.255.0.0', null],
    ['0.255.255.255', 'unspecified'],
    ['1.0.0.0', null],
    ['223.255.255.255', null],
    ['224.0.0.0', 'multicast'],
    ['239.255.255.255', 'multicast'],
    ['240.0.0.0', 'reserved'],
    ['255.255.255.254', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', null],
    ['fc00::', 'unique-local'],
    ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'unique-local'],
    ['fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff', null],
    ['fe80::', 'link-local'],
    ['febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'link-local'],
    ['fec0::', 'site-local'],
    ['feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'site-local'],
    ['ff00::', 'multicast'],
    ['::2', 'unspecified'],
    ['::ffff:100.63.255.255', null],
    ['::ffff:100.64.0.0', 'cgnat'],
    ['::ffff:172.15.255.255', null],
    ['::ffff:172.16.0.0', 'private'],
  ];
  for (const [address, expected] of expectations) {
    test(`${address} is ${expected ?? 'public'}`, () => {
      assert.equal(classifyAddress(address), expected);
    });
  }

  test('the same boundaries hold in URLs', () => {
    acceptedHref('https://172.15.255.255/');
    assert.equal(reasonFor('https://172.16.0.0/'), '172.16.0.0 is a private RFC 1918 address');
    acceptedHref('https://100.63.255.255/');
    assert.match(reasonFor('https://100.64.0.0/'), /CGNAT/);
    assert.match(reasonFor('https://100.127.255.255/'), /CGNAT/);
    acceptedHref('https://100.128.0.0/');
  });

  test('classifyAddress throws on something that is not an address', () => {
    assert.throws(() => classifyAddress('localhost'), TypeError);
    assert.throws(() => classifyAddress('127.1'), TypeError);
  });
});

describe('allowPrivateTargets', () => {
  for (const url of PRIVATE_TARGETS_ACCEPTED) {
    test(`accepts ${url}`, () => {
      acceptedHref(url, PERMISSIVE);
    });
  }

  for (const { url, why } of PRIVATE_TARGETS_REFUSED) {
    test(`still refuses ${why}`, () => {
      reasonFor(url, PERMISSIVE);
    });
  }

  test('the wording changes with the policy', () => {
    assert.equal(reasonFor('ftp://127.0.0.1/', PERMISSIVE), 'ftp: URLs are refused: receivers must use http:// or https://');
    assert.equal(reasonFor('http://user:pw@localhost:3000/', PERMISSIVE), 'URLs with a user name or password are refused');
  });

  test('the private-target URLs are refused without the policy', () => {
    for (const url of PRIVATE_TARGETS_ACCEPTED.filter((candidate) => candidate !== 'https://example.com/hook')) {
      reasonFor(url);
    }
  });

  test('an explicit strict policy behaves like the default', () => {
    assert.equal(reasonFor('https://localhost/', { allowPrivateTargets: false }), 'localhost names are refused');
  });
});
