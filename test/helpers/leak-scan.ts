import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

// The pieces of the "no secret leaked" scan: every byte a session produced (outputs, files,
// process argument lists, logs), every secret it handled, in the forms a leak could take,
// and a scan that names where a hit is without ever printing the secret.

export interface Capture {
  label: string;
  text: string;
  /** Also look for secret-shaped strings (default true); off for what other programs on the machine produced. */
  shapes?: boolean;
}

export interface KnownSecret {
  /** "signing secret", "client secret", "access token", ...: what a hit report shows instead of the value. */
  kind: string;
  value: string;
}

export interface Hit {
  label: string;
  kind: string;
  form: string;
}

/** Leak-shaped strings whatever their value: a signing secret, or an emulator access token. */
export const SECRET_PATTERNS: ReadonlyArray<{ kind: string; pattern: RegExp }> = [
  { kind: 'signing secret (by its format)', pattern: /whsec_[A-Za-z0-9_-]{20,}/ },
  { kind: 'access token (by its format)', pattern: /iaemu\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}/ },
];

const CHUNK = 12;

/**
 * What to look for: the value itself, its base64/base64url/hex/URL encodings, and 12-character
 * slices of its random part, so a truncated or partly masked copy counts as a leak too.
 */
export function needlesFor(secret: KnownSecret): Array<{ form: string; needle: string }> {
  const { value } = secret;
  const bytes = Buffer.from(value, 'utf8');
  const forms = new Map<string, string>([
    ['raw', value],
    ['base64', bytes.toString('base64')],
    ['base64url', bytes.toString('base64url')],
    ['hex', bytes.toString('hex')],
    ['url-encoded', encodeURIComponent(value)],
  ]);
  // Tokens share a readable prefix (scheme and claims), so only their signature part is sliced.
  const random = value.startsWith('iaemu.') ? (value.split('.').at(-1) ?? value) : value.replace(/^whsec_/, '');
  for (let start = 0; start + CHUNK <= random.length; start += CHUNK / 2) forms.set(`slice ${start}`, random.slice(start, start + CHUNK));
  const unique = new Map<string, string>();
  for (const [form, needle] of forms) if (!unique.has(needle)) unique.set(needle, form);
  return [...unique].map(([needle, form]) => ({ form, needle }));
}

export interface ScanResult {
  bytes: number;
  captures: number;
  hits: Hit[];
}

/** Scans each distinct capture once for every known secret (in every form) and every secret-shaped string. */
export function scan(captures: readonly Capture[], secrets: readonly KnownSecret[]): ScanResult {
  const seen = new Set<string>();
  const distinct: Capture[] = [];
  for (const capture of captures) {
    const digest = createHash('sha256').update(capture.text).digest('hex');
    if (seen.has(digest)) continue;
    seen.add(digest);
    distinct.push(capture);
  }
  const needles = dedupeSecrets(secrets).flatMap((secret) => needlesFor(secret).map((needle) => ({ ...needle, kind: secret.kind })));
  const hits: Hit[] = [];
  let bytes = 0;
  for (const capture of distinct) {
    bytes += Buffer.byteLength(capture.text, 'utf8');
    const lower = capture.text.toLowerCase();
    for (const { needle, form, kind } of needles) {
      // hex is case-insensitive; the other forms are not.
      const found = form === 'hex' ? lower.includes(needle.toLowerCase()) : capture.text.includes(needle);
      if (found) hits.push({ label: capture.label, kind, form });
    }
    if (capture.shapes === false) continue;
    for (const { kind, pattern } of SECRET_PATTERNS) if (pattern.test(capture.text)) hits.push({ label: capture.label, kind, form: 'pattern' });
  }
  return { bytes, captures: distinct.length, hits };
}

function dedupeSecrets(secrets: readonly KnownSecret[]): KnownSecret[] {
  const byValue = new Map<string, KnownSecret>();
  for (const secret of secrets) if (secret.value !== '' && !byValue.has(secret.value)) byValue.set(secret.value, secret);
  return [...byValue.values()];
}

/** Every regular file under `dir` (recursively) except those `skip` rejects, as captures. */
export async function captureFiles(dir: string, skip: (path: string) => boolean = () => false): Promise<Capture[]> {
  const captures: Capture[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return captures;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (skip(path)) continue;
    if (entry.isDirectory()) captures.push(...(await captureFiles(path, skip)));
    else if (entry.isFile()) {
      try {
        captures.push({ label: `file ${path}`, text: (await readFile(path)).toString('latin1') });
      } catch {
        // removed meanwhile (a temporary file renamed into place)
      }
    }
  }
  return captures;
}

/**
 * Watches the argument lists of every process on the machine, as `ps` would show them to
 * any user, by reading /proc/<pid>/cmdline in a loop. Linux only. A process is re-read until
 * its argument list has stayed the same for a few sweeps (it may exec right after the fork);
 * synchronous reads keep a sweep cheap (a few hundred tiny files). Processes descending from
 * `rootPid` (the session's own) are told apart from the rest of the machine.
 */
export class ProcessListWatcher {
  private readonly seen = new Set<string>();
  private readonly seenInSession = new Set<string>();
  private readonly tracked = new Map<string, { line: string; same: number; inSession: boolean }>();
  private readonly parents = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private sweeps = 0;

  constructor(private readonly rootPid: number = process.pid) {}

  start(intervalMs = 30): void {
    this.timer = setInterval(() => this.sweep(), intervalMs);
    this.sweep();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.sweep();
  }

  get sweepCount(): number {
    return this.sweeps;
  }

  /** Distinct argument lists seen on the machine, NUL separators shown as spaces. */
  commandLines(): string[] {
    return [...this.seen];
  }

  /** Those of processes descending from rootPid. */
  sessionCommandLines(): string[] {
    return [...this.seenInSession];
  }

  private sweep(): void {
    this.sweeps += 1;
    let pids: string[];
    try {
      pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
    } catch {
      return;
    }
    const alive = new Set(pids);
    for (const pid of this.tracked.keys()) if (!alive.has(pid)) this.tracked.delete(pid);
    for (const pid of this.parents.keys()) if (!alive.has(pid)) this.parents.delete(pid);
    for (const pid of pids) {
      const known = this.tracked.get(pid);
      if (known && known.same >= 8) continue;
      let raw: Buffer;
      try {
        raw = readFileSync(`/proc/${pid}/cmdline`);
      } catch {
        continue; // ended between the listing and the read
      }
      const line = raw.toString('utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
      const inSession = known?.inSession ?? this.descendsFromRoot(pid);
      if (line !== '') {
        this.seen.add(line);
        if (inSession) this.seenInSession.add(line);
      }
      if (known && known.line === line) known.same += 1;
      else this.tracked.set(pid, { line, same: 0, inSession });
    }
  }

  private descendsFromRoot(pid: string): boolean {
    const root = String(this.rootPid);
    let current = pid;
    for (let depth = 0; depth < 64; depth += 1) {
      if (current === root) return true;
      const parent = this.parentOf(current);
      if (parent === undefined || parent === '0' || parent === '1') return false;
      current = parent;
    }
    return false;
  }

  private parentOf(pid: string): string | undefined {
    const cached = this.parents.get(pid);
    if (cached !== undefined) return cached;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
      const parent = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
      if (parent !== undefined) this.parents.set(pid, parent);
      return parent;
    } catch {
      return undefined;
    }
  }
}
