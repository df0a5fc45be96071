import { createHash, createHmac } from 'node:crypto';

// A generated corpus of deliveries for `verify` and `listen`, reproducible from a seed:
// valid ones, and tampered bytes, forged or malformed signatures, bad timestamps, missing
// and duplicated headers, header injection, oversize bodies, invalid UTF-8, wrong methods
// and paths, and chunked-encoding tricks. Signatures are computed here with node:crypto,
// independently of src/. Each case says what each target must do with it:
//   accept  authentic and well-formed: must be accepted
//   reject  tampered, unsigned, mis-signed, stale or refused by a documented rule: must not be
//   either  authentic content in an odd form (duplicates, folding): any answer but a crash

export type Expectation = 'accept' | 'reject' | 'either';

export interface Wire {
  method?: string;
  path?: string;
  /** 'tiny': one-byte chunks; 'extensions': chunk extensions; 'bad-size': a non-hex size; 'short': sizes promise more than sent. */
  chunked?: 'plain' | 'tiny' | 'extensions' | 'bad-size' | 'short' | 'with-length';
  /** Overrides the Content-Length header (null: none). */
  contentLength?: string | null;
  /** Bytes of the body actually sent before the client closes its side. */
  sendBodyBytes?: number;
}

export interface HostileDelivery {
  id: number;
  group: string;
  name: string;
  /** The event id in the body (unique per case), to find the case in listen's log. */
  eventId: string;
  body: Buffer;
  /** In order, values raw (they may hold CR, LF or NUL on purpose). */
  headers: Array<[string, string]>;
  verify: Expectation | null;
  listen: Expectation | null;
  wire?: Wire;
}

export interface CorpusSecrets {
  current: string;
  previous: string;
  wrong: string;
}

/** mulberry32: small, fast, and the same sequence on every platform for a seed. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const hmacHex = (secret: string, body: Uint8Array): string => createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('hex');

const EVENT_TYPES = ['user.signed_in', 'user.signed_up', 'user.deleted', 'user.mfa_failed', 'mfa.factor_added', 'user.email_verified'];
const WORDS = ['zoë', 'Ωmega', '東京', 'naïve', 'ok', '\u202eevil', 'tab\there', 'quote"d', 'back\\slash', '😀', 'line\nbreak', 'x'];

export const TENANT_ID = 'tnt_01JHOSTILE0000000000000000';

export function buildCorpus(seed: number, secrets: CorpusSecrets, nowSeconds: number): HostileDelivery[] {
  const random = prng(seed);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const cases: HostileDelivery[] = [];
  const now = String(nowSeconds);

  const eventBody = (eventId: string, extra: Record<string, unknown> = {}): Buffer => {
    const data: Record<string, unknown> = {};
    for (let i = 0, n = 1 + int(5); i < n; i += 1) data[`k${int(1000)}`] = random() < 0.5 ? pick(WORDS) : int(1_000_000);
    return Buffer.from(
      JSON.stringify({
        event_id: eventId,
        event_type: pick(EVENT_TYPES),
        occurred_at: new Date((nowSeconds - int(60)) * 1000).toISOString(),
        tenant: { id: TENANT_ID, slug: 'acme' },
        actor: { kind: 'user', id: `usr_${int(1e9)}`, email: `${pick(WORDS)}@example.com` },
        data,
        delivery: { attempt: 1 + int(6), subscription_id: 'whsub_01JHOSTILE000000000000000' },
        ...extra,
      }),
      'utf8',
    );
  };

  const standardHeaders = (eventId: string, body: Buffer, signature: string = hmacHex(secrets.current, body), timestamp = now): Array<[string, string]> => [
    ['Content-Type', 'application/json'],
    ['X-IntelliAuth-Event-Id', eventId],
    ['X-IntelliAuth-Event-Type', 'user.signed_up'],
    ['X-IntelliAuth-Delivery-Attempt', '1'],
    ['X-IntelliAuth-Timestamp', timestamp],
    ['X-IntelliAuth-Signature', signature],
  ];

  const add = (
    group: string,
    name: string,
    build: (eventId: string) => { body: Buffer; headers: Array<[string, string]>; wire?: Wire },
    verify: Expectation | null,
    listen: Expectation | null,
  ): void => {
    const id = cases.length + 1;
    const eventId = `evt_hostile_${String(id).padStart(4, '0')}`;
    const built = build(eventId);
    cases.push({ id, group, name, eventId, body: built.body, headers: built.headers, verify, listen, ...(built.wire ? { wire: built.wire } : {}) });
  };

  const withHeader = (headers: Array<[string, string]>, name: string, value: string | null): Array<[string, string]> => {
    const kept = headers.filter(([key]) => key.toLowerCase() !== name.toLowerCase());
    return value === null ? kept : [...kept, [name, value]];
  };

  // ---- valid deliveries --------------------------------------------------------------------
  for (let i = 0; i < 25; i += 1) {
    add('valid', `random event ${i + 1}`, (id) => {
      const body = eventBody(id);
      return { body, headers: standardHeaders(id, body) };
    }, 'accept', 'accept');
  }
  add('valid', 'signed with the previous secret', (id) => {
    const body = eventBody(id);
    return { body, headers: standardHeaders(id, body, hmacHex(secrets.previous, body)) };
  }, 'accept', 'accept');
  add('valid', 'only X-IntelliAuth-Signature-Previous, signed with the previous secret', (id) => {
    const body = eventBody(id);
    return { body, headers: [...withHeader(standardHeaders(id, body), 'X-IntelliAuth-Signature', null), ['X-IntelliAuth-Signature-Previous', hmacHex(secrets.previous, body)]] };
  }, 'accept', 'accept');
  add('valid', 'a wrong X-IntelliAuth-Signature but a valid -Previous', (id) => {
    const body = eventBody(id);
    return { body, headers: [...standardHeaders(id, body, hmacHex(secrets.wrong, body)), ['X-IntelliAuth-Signature-Previous', hmacHex(secrets.current, body)]] };
  }, 'accept', 'accept');
  add('valid', 'header names in lower case', (id) => {
    const body = eventBody(id);
    return { body, headers: standardHeaders(id, body).map(([name, value]) => [name.toLowerCase(), value] as [string, string]) };
  }, 'accept', 'accept');
  add('valid', 'header names in upper case', (id) => {
    const body = eventBody(id);
    return { body, headers: standardHeaders(id, body).map(([name, value]) => [name.toUpperCase(), value] as [string, string]) };
  }, 'accept', 'accept');
  add('valid', 'timestamp 200 s old', (id) => {
    const body = eventBody(id);
    return { body, headers: standardHeaders(id, body, undefined, String(nowSeconds - 200)) };
  }, 'accept', 'accept');
  add('valid', 'timestamp 200 s ahead', (id) => {
    const body = eventBody(id);
    return { body, headers: standardHeaders(id, body, undefined, String(nowSeconds + 200)) };
  }, 'accept', 'accept');
  add('valid', 'a 900 KiB body', (id) => {
    const body = eventBody(id, { padding: 'p'.repeat(900 * 1024) });
    return { body, headers: standardHeaders(id, body) };
  }, 'accept', 'accept');
  add('valid', 'every kind of character in the body', (id) => {
    const body = eventBody(id, { text: WORDS.join(' '), control: '\u0000\u0001\u001f', astral: '𝄞𠜎' });
    return { body, headers: standardHeaders(id, body) };
  }, 'accept', 'accept');
  add('valid', 'chunked transfer encoding', (id) => {
    const body = eventBody(id);
    return { body, headers: standardHeaders(id, body), wire: { chunked: 'plain', contentLength: null } };
  }, 'accept', 'accept');
  add('valid', 'chunked in one-byte chunks', (id) => {
    const body = eventBody(id);
    return { body, headers: standardHeaders(id, body), wire: { chunked: 'tiny', contentLength: null } };
  }, 'accept', 'accept');
  add('valid', 'a query string on the path', (id) => {
    const body = eventBody(id);
    return { body, headers: standardHeaders(id, body), wire: { path: '/webhooks/intelliauth?source=test' } };
  }, 'accept', 'accept');

  // ---- tampered bodies ---------------------------------------------------------------------
  for (let i = 0; i < 40; i += 1) {
    add('tampered body', `bit flip ${i + 1}`, (id) => {
      const original = eventBody(id);
      const body = Buffer.from(original);
      const at = int(body.length);
      body[at] = body[at]! ^ (1 << int(8));
      return { body, headers: standardHeaders(id, original) };
    }, 'reject', 'reject');
  }
  const bodyEdits: Array<[string, (body: Buffer) => Buffer]> = [
    ['a newline appended', (body) => Buffer.concat([body, Buffer.from('\n')])],
    ['a space appended', (body) => Buffer.concat([body, Buffer.from(' ')])],
    ['the last byte dropped', (body) => body.subarray(0, body.length - 1)],
    ['a byte-order mark prepended', (body) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body])],
    ['re-serialised with indentation', (body) => Buffer.from(JSON.stringify(JSON.parse(body.toString('utf8')), null, 2))],
    ['the tenant swapped, same length', (body) => Buffer.from(body.toString('utf8').replace(TENANT_ID, TENANT_ID.replace('HOSTILE', 'EVILXXX')))],
    ['the event type swapped', (body) => Buffer.from(body.toString('utf8').replace(/"event_type":"[^"]+"/, '"event_type":"user.deleted_all"'))],
    ['an empty body', () => Buffer.alloc(0)],
    ['the body twice', (body) => Buffer.concat([body, body])],
  ];
  for (const [name, edit] of bodyEdits) {
    add('tampered body', name, (id) => {
      const original = eventBody(id);
      return { body: edit(original), headers: standardHeaders(id, original) };
    }, 'reject', 'reject');
  }

  // ---- forged or malformed signatures ------------------------------------------------------
  for (let i = 0; i < 15; i += 1) {
    add('tampered signature', `one hex digit changed ${i + 1}`, (id) => {
      const body = eventBody(id);
      const signature = hmacHex(secrets.current, body).split('');
      const at = int(64);
      signature[at] = ((Number.parseInt(signature[at]!, 16) + 1 + int(15)) % 16).toString(16);
      return { body, headers: standardHeaders(id, body, signature.join('')) };
    }, 'reject', 'reject');
  }
  const signatureForgeries: Array<[string, (body: Buffer) => string]> = [
    ['upper-case hex', (body) => hmacHex(secrets.current, body).toUpperCase()],
    ['a sha256= prefix', (body) => `sha256=${hmacHex(secrets.current, body)}`],
    ['63 characters', (body) => hmacHex(secrets.current, body).slice(0, 63)],
    ['65 characters', (body) => `${hmacHex(secrets.current, body)}0`],
    ['empty', () => ''],
    ['only spaces', () => '     '],
    ['not hex', () => 'z'.repeat(64)],
    ['signed with another secret', (body) => hmacHex(secrets.wrong, body)],
    ['the signature of another body', () => hmacHex(secrets.current, Buffer.from('{"event_id":"evt_other"}'))],
    ['signed with the secret plus a newline', (body) => hmacHex(`${secrets.current}\n`, body)],
    ['an unkeyed SHA-256 of the body', (body) => createHash('sha256').update(body).digest('hex')],
    ['HMAC-SHA1', (body) => createHmac('sha1', secrets.current).update(body).digest('hex')],
    ['HMAC over the body with a newline', (body) => hmacHex(secrets.current, Buffer.concat([body, Buffer.from('\n')]))],
    ['base64 instead of hex', (body) => createHmac('sha256', secrets.current).update(body).digest('base64')],
    ['two signatures in one value', (body) => `${hmacHex(secrets.wrong, body)},${hmacHex(secrets.current, body)}`],
    // HTTP parsers refuse a NUL in a header value; in a headers file it is just a bad value.
    ['valid signature with a NUL after it', (body) => `${hmacHex(secrets.current, body)}\u0000`],
  ];
  for (const [name, forge] of signatureForgeries) {
    add('tampered signature', name, (id) => {
      const body = eventBody(id);
      return { body, headers: standardHeaders(id, body, forge(body)) };
    }, 'reject', 'reject');
  }
  add('tampered signature', 'valid signature only in a -Previous header, signed with another secret', (id) => {
    const body = eventBody(id);
    return { body, headers: [...withHeader(standardHeaders(id, body), 'X-IntelliAuth-Signature', null), ['X-IntelliAuth-Signature-Previous', hmacHex(secrets.wrong, body)]] };
  }, 'reject', 'reject');

  // ---- bad timestamps (the signature itself is valid) --------------------------------------
  const badTimestamps: Array<[string, string]> = [
    ['an hour old', String(nowSeconds - 3600)],
    ['400 s old', String(nowSeconds - 400)],
    ['an hour ahead', String(nowSeconds + 3600)],
    ['a year old', String(nowSeconds - 365 * 86400)],
    ['zero', '0'],
    ['one', '1'],
    ['not a number', 'abc'],
    ['digits then letters', '12a'],
    ['huge', '99999999999999999999'],
    ['negative', '-5'],
    ['negative now', `-${now}`],
    ['a float', `${now}.5`],
    ['milliseconds', String(nowSeconds * 1000)],
    ['microseconds', `${nowSeconds}000000`],
    ['hex', `0x${nowSeconds.toString(16)}`],
    ['exponent', '1.7e9'],
    ['a plus sign', `+${now}`],
    ['trailing junk', `${now}; x`],
    ['NaN', 'NaN'],
    ['Infinity', 'Infinity'],
    ['an HTTP date', new Date(nowSeconds * 1000).toUTCString()],
    ['an ISO date', new Date(nowSeconds * 1000).toISOString()],
    ['full-width digits', now.replace(/\d/g, (d) => String.fromCharCode(0xff10 + Number(d)))],
    ['empty', ''],
  ];
  for (const [name, value] of badTimestamps) {
    add('bad timestamp', name, (id) => {
      const body = eventBody(id);
      return { body, headers: standardHeaders(id, body, undefined, value) };
    }, 'reject', 'reject');
  }

  // ---- missing headers ---------------------------------------------------------------------
  add('missing headers', 'no signature', (id) => {
    const body = eventBody(id);
    return { body, headers: withHeader(standardHeaders(id, body), 'X-IntelliAuth-Signature', null) };
  }, 'reject', 'reject');
  add('missing headers', 'no timestamp (verify checks one only when given; listen requires it)', (id) => {
    const body = eventBody(id);
    return { body, headers: withHeader(standardHeaders(id, body), 'X-IntelliAuth-Timestamp', null) };
  }, 'accept', 'reject');
  add('missing headers', 'no IntelliAuth header at all', (id) => {
    const body = eventBody(id);
    return { body, headers: [['Content-Type', 'application/json']] };
  }, 'reject', 'reject');
  add('missing headers', 'no signature, a stale timestamp', (id) => {
    const body = eventBody(id);
    return { body, headers: withHeader(standardHeaders(id, body, undefined, String(nowSeconds - 3600)), 'X-IntelliAuth-Signature', null) };
  }, 'reject', 'reject');

  // ---- duplicated headers ------------------------------------------------------------------
  add('duplicate headers', 'two signatures: a forged one, then the valid one', (id) => {
    const body = eventBody(id);
    return { body, headers: [...standardHeaders(id, body, hmacHex(secrets.wrong, body)), ['X-IntelliAuth-Signature', hmacHex(secrets.current, body)]] };
  }, 'reject', 'reject');
  add('duplicate headers', 'two signatures: the valid one, then a forged one', (id) => {
    const body = eventBody(id);
    return { body, headers: [...standardHeaders(id, body), ['X-IntelliAuth-Signature', hmacHex(secrets.wrong, body)]] };
  }, 'reject', 'reject');
  add('duplicate headers', 'two forged signatures', (id) => {
    const body = eventBody(id);
    return { body, headers: [...standardHeaders(id, body, hmacHex(secrets.wrong, body)), ['X-IntelliAuth-Signature', 'f'.repeat(64)]] };
  }, 'reject', 'reject');
  add('duplicate headers', 'the same valid signature twice', (id) => {
    const body = eventBody(id);
    return { body, headers: [...standardHeaders(id, body), ['X-IntelliAuth-Signature', hmacHex(secrets.current, body)]] };
  }, 'either', 'either');
  add('duplicate headers', 'two timestamps: fresh, then stale', (id) => {
    const body = eventBody(id);
    return { body, headers: [...standardHeaders(id, body), ['X-IntelliAuth-Timestamp', String(nowSeconds - 3600)]] };
  }, 'reject', 'reject');
  add('duplicate headers', 'two timestamps: stale, then fresh', (id) => {
    const body = eventBody(id);
    return { body, headers: [...standardHeaders(id, body, undefined, String(nowSeconds - 3600)), ['X-IntelliAuth-Timestamp', now]] };
  }, 'reject', 'reject');
  add('duplicate headers', 'two conflicting Content-Length headers around a tampered tail', (id) => {
    const original = eventBody(id);
    const body = Buffer.concat([original, Buffer.from('{"x":1}')]);
    return { body, headers: [...standardHeaders(id, original), ['Content-Length', String(original.length)], ['Content-Length', String(body.length)]], wire: { contentLength: null } };
  }, 'reject', 'reject');

  // ---- header injection ----------------------------------------------------------------------
  add('header injection', 'a bare CR smuggling a second signature', (id) => {
    const body = eventBody(id);
    return { body, headers: standardHeaders(id, body, `${hmacHex(secrets.wrong, body)}\rX-IntelliAuth-Signature: ${hmacHex(secrets.current, body)}`) };
  }, 'reject', 'reject');
  add('header injection', 'a bare LF smuggling a second signature', (id) => {
    const body = eventBody(id);
    return { body, headers: standardHeaders(id, body, `${hmacHex(secrets.wrong, body)}\nX-IntelliAuth-Signature: ${hmacHex(secrets.current, body)}`) };
  }, 'reject', 'reject');
  add('header injection', 'a bare CR smuggling a fresh timestamp after a stale one', (id) => {
    const body = eventBody(id);
    return { body, headers: standardHeaders(id, body, undefined, `${nowSeconds - 3600}\rX-IntelliAuth-Timestamp: ${now}`) };
  }, 'reject', 'reject');
  add('header injection', 'a folded (obs-fold) signature line', (id) => {
    const body = eventBody(id);
    return { body, headers: standardHeaders(id, body, `${hmacHex(secrets.wrong, body)}\r\n ${hmacHex(secrets.current, body)}`) };
  }, 'reject', 'reject');
  add('header injection', 'CRLF CRLF in a header starting a tampered body', (id) => {
    const original = eventBody(id);
    const forged = Buffer.from(original.toString('utf8').replace('"attempt":', '"attempt":9'), 'utf8');
    return {
      body: original,
      headers: [
        ['X-IntelliAuth-Signature', hmacHex(secrets.current, original)],
        ['X-IntelliAuth-Timestamp', now],
        ['X-Note', `x\r\nContent-Length: ${forged.length}\r\n\r\n${forged.toString('utf8')}`],
      ],
    };
    // verify reads the (authentic) body from stdin: the bytes smuggled into the headers are not a body there.
  }, 'either', 'reject');
  add('header injection', 'a NUL in the event id header, tampered body', (id) => {
    const original = eventBody(id);
    const body = Buffer.from(original.toString('utf8').replace('"acme"', '"evil"'));
    return { body, headers: withHeader(standardHeaders(id, original), 'X-IntelliAuth-Event-Id', `${id}\u0000admin`) };
  }, 'reject', 'reject');
  add('header injection', 'a space before the colon of the signature header', (id) => {
    const body = eventBody(id);
    return { body, headers: [...withHeader(standardHeaders(id, body), 'X-IntelliAuth-Signature', null), ['X-IntelliAuth-Signature ', hmacHex(secrets.current, body)]] };
  }, 'either', 'either');
  add('header injection', 'a 64 KiB header beside a valid signature', (id) => {
    const body = eventBody(id);
    return { body, headers: [...standardHeaders(id, body), ['X-Padding', 'a'.repeat(64 * 1024)]] };
  }, 'either', 'either');
  add('header injection', '500 extra headers beside a forged signature', (id) => {
    const body = eventBody(id);
    const extra: Array<[string, string]> = Array.from({ length: 500 }, (_, i) => [`X-Extra-${i}`, String(i)]);
    return { body, headers: [...extra, ...standardHeaders(id, body, hmacHex(secrets.wrong, body))] };
  }, 'reject', 'reject');
  add('header injection', 'binary junk in a header value, valid signature, tampered body', (id) => {
    const original = eventBody(id);
    const body = Buffer.concat([original.subarray(0, original.length - 1), Buffer.from(',"admin":true}')]);
    return { body, headers: [...standardHeaders(id, original), ['X-Junk', '\u0001\u0002\u007f\u00ff']] };
  }, 'reject', 'reject');

  // ---- oversize bodies -------------------------------------------------------------------------
  add('oversize', 'a signed body of 1 MiB + 1 byte (over listen\'s cap, under verify\'s)', (id) => {
    const skeleton = eventBody(id, { padding: '' }).toString('utf8');
    const body = Buffer.from(skeleton.replace('"padding":""', `"padding":"${'p'.repeat(1024 * 1024 + 1 - Buffer.byteLength(skeleton))}"`), 'utf8');
    return { body, headers: standardHeaders(id, body) };
  }, 'accept', 'reject');
  add('oversize', 'a signed 11 MiB body (over both caps)', (id) => {
    const body = eventBody(id, { padding: 'q'.repeat(11 * 1024 * 1024) });
    return { body, headers: standardHeaders(id, body) };
  }, 'reject', 'reject');
  add('oversize', 'a declared Content-Length of 10^12 with a small body', (id) => {
    const body = eventBody(id);
    return { body, headers: standardHeaders(id, body), wire: { contentLength: '1000000000000', sendBodyBytes: body.length } };
  }, null, 'reject');
  add('oversize', 'a chunked signed body of 2 MiB without a length', (id) => {
    const body = eventBody(id, { padding: 'r'.repeat(2 * 1024 * 1024) });
    return { body, headers: standardHeaders(id, body), wire: { chunked: 'plain', contentLength: null } };
  }, null, 'reject');

  // ---- invalid UTF-8 and bodies that are not events ----------------------------------------
  const badUtf8: Array<[string, Buffer]> = [
    ['0xff bytes', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
    ['an overlong slash', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x7d])],
    ['a lone surrogate', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d])],
    ['a cut multi-byte character', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xe6, 0x97, 0x22, 0x7d])],
  ];
  for (const [name, bytes] of badUtf8) {
    add('invalid UTF-8', `signed, ${name}`, (id) => ({ body: bytes, headers: standardHeaders(id, bytes) }), 'reject', 'reject');
    add('invalid UTF-8', `unsigned, ${name}`, (id) => ({ body: bytes, headers: withHeader(standardHeaders(id, bytes), 'X-IntelliAuth-Signature', null) }), 'reject', 'reject');
  }
  add('invalid UTF-8', 'an event with an invalid byte inside a string, signed', (id) => {
    const text = eventBody(id).toString('latin1').replace('"acme"', '"ac\u00ffme"');
    const body = Buffer.from(text, 'latin1');
    return { body, headers: standardHeaders(id, body) };
  }, 'reject', 'reject');
  for (const [name, text] of [['an array', '[]'], ['null', 'null'], ['a string', '"evt"'], ['a number', '42'], ['not JSON', 'event_id=evt_1']] as const) {
    add('not an event', `signed ${name}`, (id) => {
      const body = Buffer.from(text);
      return { body, headers: standardHeaders(id, body) };
    }, 'reject', 'reject');
  }
  add('not an event', 'a signed empty object (verify checks the signature; listen needs event_id)', (id) => {
    const body = Buffer.from('{}');
    return { body, headers: standardHeaders(id, body) };
  }, 'either', 'reject');

  // ---- wrong method or path (listen only) ----------------------------------------------------
  for (const method of ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    add('wrong method', method, (id) => {
      const body = eventBody(id);
      return { body, headers: standardHeaders(id, body), wire: { method } };
    }, null, 'reject');
  }
  for (const path of ['/', '/webhooks', '/webhooks/intelliauth/', '/WEBHOOKS/INTELLIAUTH', '/webhooks/intelliauth/../intelliauth', '/webhooks/intelliauth%00', '//webhooks/intelliauth']) {
    add('wrong path', path, (id) => {
      const body = eventBody(id);
      return { body, headers: standardHeaders(id, body), wire: { path } };
    }, null, 'reject');
  }

  // ---- chunked-encoding tricks (listen only) ---------------------------------------------------
  add('chunked', 'a tampered body in one-byte chunks', (id) => {
    const original = eventBody(id);
    const body = Buffer.from(original.toString('utf8').replace('"acme"', '"evil"'));
    return { body, headers: standardHeaders(id, original), wire: { chunked: 'tiny', contentLength: null } };
  }, null, 'reject');
  add('chunked', 'chunk extensions around a tampered body', (id) => {
    const original = eventBody(id);
    const body = Buffer.concat([original, Buffer.from(' ')]);
    return { body, headers: standardHeaders(id, original), wire: { chunked: 'extensions', contentLength: null } };
  }, null, 'reject');
  add('chunked', 'a chunk size that is not hex', (id) => {
    const body = eventBody(id);
    return { body, headers: standardHeaders(id, body, hmacHex(secrets.wrong, body)), wire: { chunked: 'bad-size', contentLength: null } };
  }, null, 'reject');
  add('chunked', 'chunk sizes promising more than is sent', (id) => {
    const body = eventBody(id);
    return { body, headers: standardHeaders(id, body), wire: { chunked: 'short', contentLength: null } };
  }, null, 'reject');
  add('chunked', 'chunked and a Content-Length at once (request smuggling shape)', (id) => {
    const original = eventBody(id);
    const body = Buffer.from(original.toString('utf8').replace('"acme"', '"evil"'));
    return { body, headers: standardHeaders(id, original), wire: { chunked: 'with-length' } };
  }, null, 'reject');
  add('partial', 'half the body, then the client closes', (id) => {
    const body = eventBody(id);
    return { body, headers: standardHeaders(id, body), wire: { sendBodyBytes: Math.floor(body.length / 2) } };
  }, null, 'reject');
  add('partial', 'a Content-Length one byte short of the signed body', (id) => {
    const body = eventBody(id);
    return { body, headers: standardHeaders(id, body), wire: { contentLength: String(body.length - 1) } };
  }, null, 'reject');

  return cases;
}

/** The header block as a headers file for `verify --headers-file`: a request line, then one header per line. */
export function headersFileText(delivery: HostileDelivery): string {
  return ['POST /webhooks/intelliauth HTTP/1.1', 'Host: receiver.example.com', ...delivery.headers.map(([name, value]) => `${name}: ${value}`), '', ''].join('\r\n');
}

/** The request bytes as a client would put them on the wire (or a hostile one would). */
export function rawRequest(delivery: HostileDelivery, defaultPath: string, port: number): Buffer {
  const wire = delivery.wire ?? {};
  const method = wire.method ?? 'POST';
  const path = wire.path ?? defaultPath;
  const chunked = wire.chunked;
  const head = [`${method} ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close'];
  for (const [name, value] of delivery.headers) head.push(`${name}: ${value}`);
  const contentLength =
    chunked === 'with-length'
      ? String(delivery.body.length)
      : wire.contentLength === undefined
        ? chunked
          ? undefined
          : String(delivery.body.length)
        : wire.contentLength;
  if (contentLength !== undefined && contentLength !== null) head.push(`Content-Length: ${contentLength}`);
  if (chunked) head.push('Transfer-Encoding: chunked');
  // Header values are written as they are: CR, LF and NUL included.
  const headBytes = Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'utf8');
  let bodyBytes: Buffer = delivery.body;
  if (chunked) bodyBytes = chunk(delivery.body, chunked);
  if (wire.sendBodyBytes !== undefined) bodyBytes = bodyBytes.subarray(0, wire.sendBodyBytes);
  return Buffer.concat([headBytes, bodyBytes]);
}

function chunk(body: Buffer, style: NonNullable<Wire['chunked']>): Buffer {
  const parts: Buffer[] = [];
  const piece = (bytes: Buffer, extension = '') => parts.push(Buffer.from(`${bytes.length.toString(16)}${extension}\r\n`), bytes, Buffer.from('\r\n'));
  switch (style) {
    case 'tiny':
      for (const byte of body) piece(Buffer.from([byte]));
      break;
    case 'extensions':
      piece(body.subarray(0, 10), ';name=value');
      piece(body.subarray(10), ';x="y"');
      break;
    case 'bad-size':
      parts.push(Buffer.from('zz\r\n'), body, Buffer.from('\r\n'));
      break;
    case 'short':
      parts.push(Buffer.from(`${(body.length + 100).toString(16)}\r\n`), body);
      return Buffer.concat(parts);
    default:
      for (let at = 0; at < body.length; at += 64 * 1024) piece(body.subarray(at, at + 64 * 1024));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}
