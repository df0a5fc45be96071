// A binary min-heap on a numeric due time; ties leave in insertion order. The delivery
// engine keeps every timed job here and arms one timer for the earliest.

interface Slot<T> {
  at: number;
  seq: number;
  item: T;
}

export class MinHeap<T> {
  private slots: Array<Slot<T>> = [];
  private seq = 0;

  get size(): number {
    return this.slots.length;
  }

  push(at: number, item: T): void {
    const slot = { at, seq: this.seq++, item };
    this.slots.push(slot);
    this.up(this.slots.length - 1);
  }

  peekTime(): number | undefined {
    return this.slots[0]?.at;
  }

  pop(): T | undefined {
    const top = this.slots[0];
    if (!top) return undefined;
    const last = this.slots.pop()!;
    if (this.slots.length > 0) {
      this.slots[0] = last;
      this.down(0);
    }
    return top.item;
  }

  /** Keeps only the items `keep` accepts; O(n). */
  filter(keep: (item: T) => boolean): void {
    this.slots = this.slots.filter((slot) => keep(slot.item));
    for (let i = (this.slots.length >> 1) - 1; i >= 0; i -= 1) this.down(i);
  }

  clear(): void {
    this.slots = [];
  }

  private before(a: Slot<T>, b: Slot<T>): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private up(index: number): void {
    const slots = this.slots;
    const slot = slots[index]!;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.before(slot, slots[parent]!)) break;
      slots[index] = slots[parent]!;
      index = parent;
    }
    slots[index] = slot;
  }

  private down(index: number): void {
    const slots = this.slots;
    const slot = slots[index]!;
    const half = slots.length >> 1;
    while (index < half) {
      let child = 2 * index + 1;
      const right = child + 1;
      if (right < slots.length && this.before(slots[right]!, slots[child]!)) child = right;
      if (!this.before(slots[child]!, slot)) break;
      slots[index] = slots[child]!;
      index = child;
    }
    slots[index] = slot;
  }
}
