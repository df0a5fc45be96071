// Event selectors: `*` (everything), a category (`user.*`) or one exact type (`user.signed_up`).

const TYPE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
const CATEGORY = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.\*$/;

export type SelectorKind = 'all' | 'category' | 'type';

export function selectorKind(selector: string): SelectorKind | null {
  if (selector === '*') return 'all';
  if (CATEGORY.test(selector)) return 'category';
  if (TYPE.test(selector)) return 'type';
  return null;
}

export function isValidSelector(selector: string): boolean {
  return selectorKind(selector) !== null;
}

export function selectorMatches(selector: string, eventType: string): boolean {
  switch (selectorKind(selector)) {
    case 'all':
      return true;
    case 'category':
      return eventType.startsWith(selector.slice(0, -1));
    case 'type':
      return eventType === selector;
    default:
      return false;
  }
}

export function anySelectorMatches(selectors: readonly string[], eventType: string): boolean {
  return selectors.some((selector) => selectorMatches(selector, eventType));
}

/** Splits `a,b c` style input into selectors, dropping empties and duplicates, order kept. */
export function parseSelectorList(input: string | readonly string[]): string[] {
  const parts = (typeof input === 'string' ? [input] : input).flatMap((part) => part.split(/[\s,]+/));
  return [...new Set(parts.map((part) => part.trim()).filter((part) => part.length > 0))];
}
