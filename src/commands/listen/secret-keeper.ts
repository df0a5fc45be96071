import { secretFingerprint } from '../../domain/signature.ts';

// The receiver's signing secrets, kept fresh without a restart: re-read on a timer and after
// a signature mismatch (rate-limited, so a flood of forged requests cannot hammer the store).
// A rotation made meanwhile (new secret in the store, old one kept as "previous") is thus
// picked up; a failed re-read keeps the secrets already held.

export interface LoadedSecrets {
  current: string;
  previous: string | null;
  /** When the previous secret's grace ends (ms since epoch); null: no end known. */
  previousExpiresAtMs: number | null;
  /** Where they came from, for messages (never the secret). */
  description: string;
}

export type SecretLoader = () => Promise<LoadedSecrets>;

export interface SecretKeeperOptions {
  now?: () => number;
  refreshIntervalMs?: number;
  /** Minimum time between two re-reads caused by mismatches. */
  mismatchRefreshGapMs?: number;
  /** false for sources that cannot change while running (environment variables). */
  reloadable?: boolean;
  onChange?: (secrets: LoadedSecrets, before: LoadedSecrets) => void;
  onReloadError?: (error: unknown) => void;
}

export interface SecretPair {
  current: string;
  previous: string | null;
}

export class SecretKeeper {
  private loaded: LoadedSecrets | undefined;
  private pair: SecretPair = { current: '', previous: null };
  private version = 0;
  private reloading: Promise<void> | undefined;
  private lastMismatchReload = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly reloadable: boolean;

  constructor(
    private readonly load: SecretLoader,
    private readonly options: SecretKeeperOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.reloadable = options.reloadable !== false;
  }

  /** The first read; its errors reach the caller (nothing to fall back on yet). */
  async start(): Promise<LoadedSecrets> {
    this.adopt(await this.load());
    if (this.reloadable) {
      this.timer = setInterval(() => void this.reload(), this.options.refreshIntervalMs ?? 30_000);
      this.timer.unref();
    }
    return this.loaded!;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  get info(): LoadedSecrets {
    if (!this.loaded) throw new Error('SecretKeeper.start() has not completed');
    return this.loaded;
  }

  /** Bumped whenever the secrets change; lets a caller tell whether a re-read brought news. */
  get generation(): number {
    return this.version;
  }

  /** The secrets to verify with now; a previous secret past its grace is no longer offered. */
  secrets(): SecretPair {
    const loaded = this.loaded;
    if (loaded && loaded.previous !== null && loaded.previousExpiresAtMs !== null && this.now() >= loaded.previousExpiresAtMs) {
      this.pair = { current: loaded.current, previous: null };
      this.loaded = { ...loaded, previous: null, previousExpiresAtMs: null };
    }
    return this.pair;
  }

  /**
   * After a signature mismatch: re-reads the store unless that was done moments ago (a read
   * already under way is shared). Resolves true when the secrets changed since `generation`,
   * so the caller can verify the request once more.
   */
  async refreshAfterMismatch(generation: number): Promise<boolean> {
    if (!this.reloadable) return false;
    if (this.reloading === undefined) {
      const now = this.now();
      if (now - this.lastMismatchReload < (this.options.mismatchRefreshGapMs ?? 5_000)) return this.version !== generation;
      this.lastMismatchReload = now;
      void this.reload();
    }
    await this.reloading;
    return this.version !== generation;
  }

  /** Re-reads the source; never throws. */
  reload(): Promise<void> {
    if (!this.reloadable) return Promise.resolve();
    this.reloading ??= this.load()
      .then(
        (fresh) => this.adopt(fresh),
        (error: unknown) => this.options.onReloadError?.(error),
      )
      .finally(() => {
        this.reloading = undefined;
      });
    return this.reloading;
  }

  private adopt(fresh: LoadedSecrets): void {
    const before = this.loaded;
    this.loaded = fresh;
    const changed = before === undefined || before.current !== fresh.current || before.previous !== fresh.previous;
    if (!changed) return;
    this.pair = { current: fresh.current, previous: fresh.previous };
    this.version += 1;
    if (before !== undefined) this.options.onChange?.(fresh, before);
  }
}

/** `abcd1234` or `abcd1234 (previous 9876fedc until ...)`: what to show of the secrets held. */
export function describeSecrets(secrets: LoadedSecrets): string {
  const current = secretFingerprint(secrets.current);
  if (secrets.previous === null) return `secret ${current}`;
  const until = secrets.previousExpiresAtMs === null ? '' : ` until ${new Date(secrets.previousExpiresAtMs).toISOString()}`;
  return `secret ${current}, previous ${secretFingerprint(secrets.previous)}${until}`;
}
