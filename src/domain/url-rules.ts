import { BlockList, isIP, isIPv4 } from 'node:net';

// Receiver URL rules, shared by the CLI (before any API call) and the emulator (at create and
// update, and on every resolved address before a delivery). Host spellings are left to the
// WHATWG URL parser, the same one undici connects with: it folds decimal, octal, hex and short
// IPv4 forms, percent-encoding, IDNA and IPv6 into one canonical host, and we judge that host.

export interface UrlPolicy {
  /** The emulator's --allow-private-targets: http:// and loopback, private and localhost targets pass. */
  allowPrivateTargets: boolean;
}

export type UrlVerdict = { ok: true; url: URL } | { ok: false; reason: string };

export type AddressClass =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'cgnat'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'unique-local'
  | 'site-local';

export const MAX_URL_LENGTH = 2048;
const MAX_HOST_NAME_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;
const STRICT: UrlPolicy = { allowPrivateTargets: false };

interface AddressRange {
  list: BlockList;
  cls: AddressClass;
  /** Completes "<address> is ..." */
  phrase: string;
}

function range(family: 'ipv4' | 'ipv6', network: string, prefix: number, cls: AddressClass, phrase: string): AddressRange {
  const list = new BlockList();
  list.addSubnet(network, prefix, family);
  return { list, cls, phrase };
}

// Order matters only where ranges nest: the broadcast address sits inside 240.0.0.0/4.
const IPV4_RANGES: readonly AddressRange[] = [
  range('ipv4', '0.0.0.0', 8, 'unspecified', 'an unspecified address (0.0.0.0/8)'),
  range('ipv4', '10.0.0.0', 8, 'private', 'a private RFC 1918 address'),
  range('ipv4', '100.64.0.0', 10, 'cgnat', 'a carrier-grade NAT (CGNAT) address in 100.64.0.0/10'),
  range('ipv4', '127.0.0.0', 8, 'loopback', 'a loopback address'),
  range('ipv4', '169.254.0.0', 16, 'link-local', 'a link-local address (169.254.0.0/16)'),
  range('ipv4', '172.16.0.0', 12, 'private', 'a private RFC 1918 address'),
  range('ipv4', '192.168.0.0', 16, 'private', 'a private RFC 1918 address'),
  range('ipv4', '224.0.0.0', 4, 'multicast', 'a multicast address (224.0.0.0/4)'),
  range('ipv4', '255.255.255.255', 32, 'broadcast', 'the broadcast address'),
  range('ipv4', '240.0.0.0', 4, 'reserved', 'a reserved address (240.0.0.0/4)'),
];

const IPV6_RANGES: readonly AddressRange[] = [
  range('ipv6', '::', 128, 'unspecified', 'the unspecified IPv6 address'),
  range('ipv6', '::1', 128, 'loopback', 'the IPv6 loopback address'),
  range('ipv6', 'fc00::', 7, 'unique-local', 'a unique-local IPv6 address (fc00::/7)'),
  range('ipv6', 'fe80::', 10, 'link-local', 'a link-local IPv6 address (fe80::/10)'),
  range('ipv6', 'fec0::', 10, 'site-local', 'a site-local IPv6 address (fec0::/10)'),
  range('ipv6', 'ff00::', 8, 'multicast', 'an IPv6 multicast address (ff00::/8)'),
  // Local-use NAT64 translates to whatever the operator's network holds.
  range('ipv6', '64:ff9b:1::', 48, 'reserved', 'a local-use NAT64 address (64:ff9b:1::/48)'),
];

/** IPv6 forms that carry an IPv4 address which a dual-stack host or a gateway would reach. */
interface Embedding {
  list: BlockList;
  /** Index of the 16-bit group where the IPv4 address starts. */
  at: number;
  form: string;
  display: (ipv4: string, canonical: string) => string;
}

function embedding(network: string, prefix: number, at: number, form: string, display: Embedding['display']): Embedding {
  const list = new BlockList();
  list.addSubnet(network, prefix, 'ipv6');
  return { list, at, form, display };
}

// Checked after IPV6_RANGES, so :: and ::1 are already judged when ::/96 is tried.
const EMBEDDINGS: readonly Embedding[] = [
  embedding('::ffff:0:0', 96, 6, 'an IPv4-mapped form of', (ipv4) => `::ffff:${ipv4}`),
  embedding('::ffff:0:0:0', 96, 6, 'an IPv4-translated form of', (ipv4) => `::ffff:0:${ipv4}`),
  embedding('64:ff9b::', 96, 6, 'a NAT64 form of', (ipv4) => `64:ff9b::${ipv4}`),
  embedding('::', 96, 6, 'an IPv4-compatible form of', (ipv4) => `::${ipv4}`),
  embedding('2002::', 16, 1, 'a 6to4 address embedding', (_ipv4, canonical) => canonical),
];

const LOCALHOST_ALIASES = new Set(['localhost', 'localhost.localdomain', 'localhost6', 'localhost6.localdomain6', 'ip6-localhost', 'ip6-loopback']);

interface Assessment {
  cls: AddressClass;
  reason: string;
}

function canonicalIPv6(address: string): string {
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

/** The eight 16-bit groups of a canonical (WHATWG-serialised, so dot-free) IPv6 address. */
function ipv6Groups(canonical: string): number[] {
  const [head = '', tail] = canonical.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16)));
  if (tail === undefined) return parse(head);
  const left = parse(head);
  const right = parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

function assessIPv4(address: string, display: string = address): Assessment | null {
  const hit = IPV4_RANGES.find((candidate) => candidate.list.check(address, 'ipv4'));
  return hit ? { cls: hit.cls, reason: `${display} is ${hit.phrase}` } : null;
}

function assessIPv6(address: string): Assessment | null {
  const canonical = canonicalIPv6(address);
  const direct = IPV6_RANGES.find((candidate) => candidate.list.check(canonical, 'ipv6'));
  if (direct) return { cls: direct.cls, reason: `${canonical} is ${direct.phrase}` };
  const wrapper = EMBEDDINGS.find((candidate) => candidate.list.check(canonical, 'ipv6'));
  if (!wrapper) return null;
  const groups = ipv6Groups(canonical);
  const high = groups[wrapper.at]!;
  const low = groups[wrapper.at + 1]!;
  const ipv4 = [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
  const inner = assessIPv4(ipv4);
  if (!inner) return null;
  const innerPhrase = inner.reason.slice(`${ipv4} is `.length);
  return { cls: inner.cls, reason: `${wrapper.display(ipv4, canonical)} is ${wrapper.form} ${ipv4}, ${innerPhrase}` };
}

function withoutZone(address: string): string {
  const percent = address.indexOf('%');
  return percent < 0 ? address : address.slice(0, percent);
}

function assessAddress(address: string): Assessment | null {
  const bare = withoutZone(address);
  return isIPv4(bare) ? assessIPv4(bare) : assessIPv6(bare);
}

/** The class of a refused IPv4 or IPv6 address (embedded IPv4 forms take the IPv4's class); null for a public one. */
export function classifyAddress(address: string): AddressClass | null {
  if (isIP(address) === 0) throw new TypeError(`not an IP address: ${JSON.stringify(address)}`);
  return assessAddress(address)?.cls ?? null;
}

/** For an address resolved by DNS (IPv4 or IPv6 string): null when allowed, else the reason. */
export function checkResolvedAddress(address: string, policy: UrlPolicy = STRICT): string | null {
  if (typeof address !== 'string' || isIP(address) === 0) return `${JSON.stringify(String(address))} is not an IP address`;
  if (policy.allowPrivateTargets) return null;
  return assessAddress(address)?.reason ?? null;
}

function refuse(reason: string): UrlVerdict {
  return { ok: false, reason };
}

// Whitespace and control characters are dropped or trimmed silently by the URL parser, so a
// URL that carries them is not the URL the user sees; invisible format characters likewise.
const INVISIBLE = /[\s\p{Cc}\p{Cf}]/u;
const HOST_PORT_WITHOUT_SCHEME = /^[^\s:/?#@]+:\d+(?:[/?#]|$)/;
const AUTHORITY = /^[a-z][a-z0-9+.-]*:[\\/]*([^\\/?#]*)/i;
const WITH_AUTHORITY = /^[a-z][a-z0-9+.-]*:[\\/]{2}/i;
const IPV6_ZONE = /\[[^\]]*%/;

function looksSchemeless(input: string, parsed: URL | null): boolean {
  if (WITH_AUTHORITY.test(input)) return false;
  // `example.com:8443/x` parses, with `example.com:` as its scheme.
  if (parsed && !parsed.protocol.includes('.') && !HOST_PORT_WITHOUT_SCHEME.test(input)) return false;
  return URL.canParse(`https://${input}`);
}

function parse(input: string): URL | null {
  try {
    return new URL(input);
  } catch {
    return null;
  }
}

function isLocalhostName(name: string): boolean {
  return LOCALHOST_ALIASES.has(name) || name.endsWith('.localhost');
}

function checkHostName(host: string, policy: UrlPolicy): string | null {
  const name = host.replace(/\.+$/, '');
  if (name === '') return 'the receiver URL has no host name';
  if (name !== host) {
    // `127.0.0.1..` is not an IPv4 literal to the URL parser, but a resolver may still read it as one.
    const reparsed = parse(`https://${name}/`)?.hostname;
    if (reparsed !== undefined && isIPv4(reparsed)) return policy.allowPrivateTargets ? null : (assessIPv4(reparsed)?.reason ?? null);
  }
  if (!policy.allowPrivateTargets && isLocalhostName(name)) return 'localhost names are refused';
  if (name.length > MAX_HOST_NAME_LENGTH) return `the host name is longer than ${MAX_HOST_NAME_LENGTH} characters`;
  const labels = name.split('.');
  if (labels.includes('')) return `the host name ${host} has an empty label (two dots in a row)`;
  if (labels.some((label) => label.length > MAX_LABEL_LENGTH)) return `the host name ${host} has a label longer than ${MAX_LABEL_LENGTH} characters`;
  return null;
}

/**
 * Checks a receiver URL without resolving its name (a receiver's DNS may not exist yet).
 * On success `url.href` is the canonical form to store and deliver to.
 */
export function checkReceiverUrl(input: string, policy: UrlPolicy = STRICT): UrlVerdict {
  if (typeof input !== 'string') return refuse('the receiver URL must be a string');
  if (input.trim() === '') return refuse('the receiver URL is empty');
  if (input.length > MAX_URL_LENGTH) return refuse(`the receiver URL is longer than ${MAX_URL_LENGTH} characters`);
  if (INVISIBLE.test(input)) return refuse('the receiver URL contains spaces, control characters or invisible characters');

  const url = parse(input);
  const schemes = policy.allowPrivateTargets ? 'http:// or https://' : 'https://';
  if (looksSchemeless(input, url)) return refuse(`the receiver URL has no scheme: write it starting with ${schemes}`);
  if (!url && IPV6_ZONE.test(input)) return refuse('IPv6 zone ids (the %25 suffix) are not allowed in a receiver URL');
  if (!url) return refuse('the receiver URL is not a valid absolute URL');
  if (url.protocol === 'http:' && !policy.allowPrivateTargets) {
    return refuse('http:// receivers are refused: the platform delivers over HTTPS only');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return refuse(`${url.protocol} URLs are refused: receivers must use ${schemes}`);
  }
  // An empty `user@` or `:@` is dropped by the parser, so look at the authority as typed too.
  if (url.username !== '' || url.password !== '' || AUTHORITY.exec(input)?.[1]?.includes('@')) {
    return refuse('URLs with a user name or password are refused');
  }
  // Never sent over HTTP, so a fragment would be stored but silently dropped from every delivery.
  if (url.href.includes('#')) return refuse('URLs with a #fragment are refused: the fragment is never sent to the receiver');
  if (url.port === '0') return refuse('port 0 cannot receive connections');

  const host = url.hostname;
  if (host === '') return refuse('the receiver URL has no host');
  if (host.startsWith('[') || isIPv4(host)) {
    if (policy.allowPrivateTargets) return { ok: true, url };
    const verdict = assessAddress(host.startsWith('[') ? host.slice(1, -1) : host);
    return verdict ? refuse(verdict.reason) : { ok: true, url };
  }
  const hostProblem = checkHostName(host, policy);
  return hostProblem ? refuse(hostProblem) : { ok: true, url };
}
