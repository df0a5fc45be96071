import type { CreatedSubscription, DeadLetter, DeliveryRecord, Subscription } from '../../src/domain/contract.ts';

// Talks to an emulator directly over HTTP (not through src/api), for e2e tests that need a
// subscription and its first secret, events, or the platform's view, without depending on
// the CLI command under test.

export interface EmulatorEndpoint {
  tenantUrl: string;
  clientId: string;
  clientSecret: string;
}

export interface EmulatorClient {
  call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; data: T }>;
  createSubscription(input: { url: string; name?: string; events?: string[] }): Promise<CreatedSubscription>;
  getSubscription(id: string): Promise<Subscription>;
  updateSubscription(id: string, body: Record<string, unknown>): Promise<Subscription>;
  /** Injects a tenant event; resolves its id. */
  emit(eventType: string, data?: Record<string, unknown>): Promise<string>;
  deadLetters(id: string): Promise<DeadLetter[]>;
  deliveries(id: string): Promise<DeliveryRecord[]>;
}

export function emulatorClient(endpoint: EmulatorEndpoint): EmulatorClient {
  let token: string | undefined;
  const getToken = async (): Promise<string> => {
    if (token) return token;
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: endpoint.clientId, client_secret: endpoint.clientSecret });
    const response = await fetch(`${endpoint.tenantUrl}/oauth2/token`, { method: 'POST', body: form });
    const body = (await response.json()) as { access_token?: string };
    if (!response.ok || !body.access_token) throw new Error(`token request failed: ${response.status}`);
    token = body.access_token;
    return token;
  };
  const call = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; data: T }> => {
    const headers: Record<string, string> = { authorization: `Bearer ${await getToken()}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${endpoint.tenantUrl}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    const parsed = text === '' ? {} : (JSON.parse(text) as { data?: T });
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
    return { status: response.status, data: parsed.data as T };
  };
  const base = '/api/v1/webhooks';
  return {
    call,
    createSubscription: async (input) =>
      (
        await call<CreatedSubscription>('POST', `${base}/subscriptions`, {
          name: input.name ?? 'ops test',
          url: input.url,
          events: input.events ?? ['*'],
        })
      ).data,
    getSubscription: async (id) => (await call<Subscription>('GET', `${base}/subscriptions/${id}`)).data,
    updateSubscription: async (id, body) => (await call<Subscription>('PATCH', `${base}/subscriptions/${id}`, body)).data,
    emit: async (eventType, data) =>
      (await call<{ event_id: string }>('POST', '/_emulator/events', { event_type: eventType, ...(data ? { data } : {}) })).data.event_id,
    deadLetters: async (id) => (await call<DeadLetter[]>('GET', `${base}/subscriptions/${id}/dead-letters`)).data,
    deliveries: async (id) => (await call<DeliveryRecord[]>('GET', `${base}/subscriptions/${id}/deliveries?limit=100`)).data,
  };
}
