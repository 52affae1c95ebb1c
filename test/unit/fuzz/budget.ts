// Per-input time in a property, without a flaky wall-clock assert: each call is timed, and only the share of inputs
// over a generous bound is checked (a GC pause or a busy machine makes one slow, a cost that grows with the input
// makes many slow). The worst figure is kept for the test's own diagnostics.
import { performance } from "node:perf_hooks";

/** Inputs per property: FUZZ_RUNS=20000 npx vitest run test/unit/fuzz fuzzes deeper than CI's default. */
export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 300);

export class TimeBudget {
  readonly boundMs: number;
  runs = 0;
  outliers = 0;
  worstMs = 0;

  constructor(boundMs: number) {
    this.boundMs = boundMs;
  }

  time<T>(fn: () => T): T {
    const start = performance.now();
    try {
      return fn();
    } finally {
      const ms = performance.now() - start;
      this.runs++;
      if (ms > this.boundMs) this.outliers++;
      if (ms > this.worstMs) this.worstMs = ms;
    }
  }

  /** At most 2 % of inputs (and at least 2 of them) may be over the bound. */
  get withinBudget(): boolean {
    return this.outliers <= Math.max(2, Math.ceil(this.runs * 0.02));
  }

  toString(): string {
    return `${this.outliers} of ${this.runs} inputs over ${this.boundMs} ms (worst ${this.worstMs.toFixed(1)} ms)`;
  }
}

/** Throws unless `err` is one of the module's own error types: anything else escaped past its module. */
export function expectOwnError(err: unknown, ...types: (abstract new (...args: never[]) => Error)[]): void {
  if (types.some((t) => err instanceof t)) return;
  throw new Error(`escaped its module: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`, { cause: err });
}
