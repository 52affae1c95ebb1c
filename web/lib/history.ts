// The last N samples of a figure (one a second for the stats graphs), oldest first. No DOM: the graph draws it.

export class SampleHistory {
  readonly capacity: number;
  readonly #samples: number[] = [];

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 2) throw new Error("SampleHistory: capacity must be a whole number >= 2");
    this.capacity = capacity;
  }

  /** Adds a sample; a negative or non-finite one (a counter reset, a division by zero) counts as 0. */
  push(value: number): void {
    this.#samples.push(Number.isFinite(value) ? Math.max(0, value) : 0);
    if (this.#samples.length > this.capacity) this.#samples.shift();
  }

  get values(): readonly number[] {
    return this.#samples;
  }

  get max(): number {
    return this.#samples.reduce((m, v) => (v > m ? v : m), 0);
  }
}
