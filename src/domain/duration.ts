// Durations as users type them: `0`, `90s`, `90m`, `24h`, `7d`, `1h30m`, or plain seconds.

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
// Parts may be spaced (`1h 30m`, as formatDuration writes them), but a unit may not stand apart from its number.
const PART = /\s*(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/y;

/** Parses a duration into seconds; returns null when the text is not a duration. */
export function parseDurationSeconds(text: string): number | null {
  const input = text.trim().toLowerCase();
  if (/^\d+(?:\.\d+)?$/.test(input)) return Number(input);
  if (input === '') return null;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < input.length) {
    const start = PART.lastIndex;
    const match = PART.exec(input);
    if (!match || match.index !== start) return null;
    total += Number(match[1]) * UNIT_SECONDS[match[2]!]!;
  }
  return total;
}

/** `1h 30m`, `45s`, `2d 3h`: the two largest non-zero units. */
export function formatDuration(seconds: number): string {
  if (seconds > 0 && seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  const units: Array<[string, number]> = [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]];
  const parts: string[] = [];
  let rest = Math.round(seconds);
  for (const [name, size] of units) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${name}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(' ') || '0s';
}
