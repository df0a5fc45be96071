import { DELIVERY_TIMEOUT_MS, type DeliveryRecord } from '../../domain/contract.ts';

// Why a test delivery failed, in words that point at the fix. Pure, so each cause can be
// checked without a receiver misbehaving in that particular way.

export interface FailureFacts {
  subscriptionId: string;
  /** The platform's fingerprint of the current secret, when known. */
  platformFingerprint?: string | undefined;
  /** What this machine holds for the subscription, from the secret index. */
  stored?: { fingerprint: string; location: string } | null | undefined;
  /** The tenant is the local emulator (the receiver then runs on this machine). */
  emulator?: boolean;
}

export interface Diagnosis {
  message: string;
  hint: string;
}

const LIMIT_SECONDS = DELIVERY_TIMEOUT_MS / 1000;

export function diagnoseFailure(record: DeliveryRecord, facts: FailureFacts): Diagnosis {
  const id = facts.subscriptionId;
  const prefix = 'test delivery failed';
  const status = record.http_status;
  if (record.error === 'timeout') {
    return {
      message: `${prefix}: the receiver did not answer within ${LIMIT_SECONDS} s (timeout)`,
      hint: `answer 2xx first and do the work afterwards (in a queue or background job): the platform waits at most ${LIMIT_SECONDS} s`,
    };
  }
  if (record.error === 'tls') {
    return {
      message: `${prefix}: the TLS handshake with the receiver failed (tls)`,
      hint: "the receiver's certificate was refused: self-signed, expired, or not issued for its name; the platform accepts only certificates from a public CA",
    };
  }
  if (record.error === 'dns' || record.error === 'connection') {
    const what =
      record.error === 'dns' ? "the receiver's name did not resolve (dns)" : 'could not connect to the receiver: refused or reset (connection)';
    return {
      message: `${prefix}: ${what}`,
      hint: facts.emulator
        ? `check that the receiver is running and listening at the subscription's URL (\`intelliauth-webhooks get ${id}\`)`
        : 'the receiver must be reachable from the internet: for one on your machine, expose it through a tunnel, ' +
          'or for local work use the emulator (`intelliauth-webhooks emulator --allow-private-targets`)',
    };
  }
  if (record.error === 'url_not_allowed') {
    return {
      message: `${prefix}: the receiver's name resolves to a private or loopback address (url_not_allowed)`,
      hint:
        'the platform delivers only to public addresses and checks them at every attempt; for a receiver on your machine, ' +
        'use a tunnel, or the emulator with --allow-private-targets',
    };
  }
  if (status === null) {
    return {
      message: `${prefix}: ${record.error ?? 'no answer'} from the receiver`,
      hint: 'check that the receiver is running and reachable at the subscription\'s URL',
    };
  }
  const answered = `${prefix}: the receiver answered ${status}`;
  if (status === 401 || status === 403) return { message: answered, hint: secretMismatchHint(facts, status) };
  if (status >= 500) {
    return {
      message: answered,
      hint:
        'every non-2xx answer is retried: answer 2xx for events the receiver chooses to reject (unknown type, duplicate), ' +
        'and 5xx only when it wants the delivery again; its response is shown above',
    };
  }
  if (status >= 300 && status < 400) {
    return {
      message: `${answered} (a redirect)`,
      hint: `redirects are not followed: point the subscription at the final URL (\`intelliauth-webhooks update ${id} --url URL\`)`,
    };
  }
  return {
    message: answered,
    hint: 'check the URL path and that the receiver accepts a POST with a JSON body; any answer other than 2xx counts as a failure',
  };
}

function secretMismatchHint(facts: FailureFacts, status: number): string {
  const id = facts.subscriptionId;
  const platform = facts.platformFingerprint;
  const parts = [`a ${status} usually means the receiver's signing secret does not match`];
  if (platform) parts.push(`the platform signs with the secret of fingerprint ${platform}`);
  if (facts.stored === undefined) {
    parts.push(`start the receiver with the stored secret: \`intelliauth-webhooks secret exec ${id} -- <your receiver command>\``);
    return parts.join('; ');
  }
  if (facts.stored === null) {
    parts.push(
      `this machine holds no secret for ${id}: import it (\`intelliauth-webhooks secret import ${id}\`) or rotate to get a new one`,
    );
    return parts.join('; ');
  }
  if (platform && facts.stored.fingerprint !== platform) {
    parts.push(
      `this machine holds ${facts.stored.fingerprint} (${facts.stored.location}), an outdated one: rotate (\`intelliauth-webhooks rotate ${id}\`) to get a new secret`,
    );
    return parts.join('; ');
  }
  parts.push(
    `this machine holds ${facts.stored.fingerprint} in ${facts.stored.location}; ` +
      `start the receiver with it: \`intelliauth-webhooks secret exec ${id} -- <your receiver command>\``,
  );
  return parts.join('; ');
}
