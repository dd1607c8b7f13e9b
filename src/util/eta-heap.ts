/**
 * A binary min-heap of (sequence, due time) pairs in two growable `Float64Array`s: 16 bytes per
 * entry and no object per entry, so an index of 100,000 delayed tasks is ~1.6 MB that the garbage
 * collector never has to trace (an object per entry cost ~400 B and kept old space busy).
 */
export class EtaHeap {
  #eta = new Float64Array(1024);
  #seq = new Float64Array(1024);
  #size = 0;

  /** Entries in the heap. */
  get size(): number {
    return this.#size;
  }

  /** Due time of the soonest entry (epoch ms), or `Infinity` when empty. */
  peekEta(): number {
    return this.#size > 0 ? (this.#eta[0] as number) : Number.POSITIVE_INFINITY;
  }

  /** Sequence of the soonest entry, or -1 when empty. */
  peekSeq(): number {
    return this.#size > 0 ? (this.#seq[0] as number) : -1;
  }

  push(seq: number, eta: number): void {
    if (this.#size === this.#eta.length) this.#grow();
    const es = this.#eta;
    const ss = this.#seq;
    let i = this.#size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pe = es[p] as number;
      if (pe <= eta) break;
      es[i] = pe;
      ss[i] = ss[p] as number;
      i = p;
    }
    es[i] = eta;
    ss[i] = seq;
  }

  /** Remove the soonest entry; returns its sequence, or -1 when empty. */
  pop(): number {
    if (this.#size === 0) return -1;
    const es = this.#eta;
    const ss = this.#seq;
    const top = ss[0] as number;
    const n = --this.#size;
    if (n === 0) return top;
    const eta = es[n] as number;
    const seq = ss[n] as number;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (es[r] as number) < (es[l] as number) ? r : l;
      if ((es[c] as number) >= eta) break;
      es[i] = es[c] as number;
      ss[i] = ss[c] as number;
      i = c;
    }
    es[i] = eta;
    ss[i] = seq;
    return top;
  }

  clear(): void {
    this.#size = 0;
    if (this.#eta.length > 1024) {
      this.#eta = new Float64Array(1024);
      this.#seq = new Float64Array(1024);
    }
  }

  #grow(): void {
    const eta = new Float64Array(this.#eta.length * 2);
    const seq = new Float64Array(this.#seq.length * 2);
    eta.set(this.#eta);
    seq.set(this.#seq);
    this.#eta = eta;
    this.#seq = seq;
  }
}
