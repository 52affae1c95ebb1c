// The server's own load, measured once a second, for admission control: when the process already uses most of its
// core (Bun runs the media path on one thread), one more viewer would degrade every viewer, so new WHEP sessions
// are refused with 503 + Retry-After instead.

export interface LoadSample {
  /** Share of one core the process used over the last second (user + system). */
  cpu: number;
  /** How late the once-a-second timer fired, in ms: event-loop congestion. */
  lagMs: number;
}

export interface LoadPolicy {
  /** Refuse new viewers at or above this share of one core; 0 turns admission control off. */
  maxCpu: number;
}

/**
 * Pure decision over the last two samples, so one busy second refuses nobody. Only the server's own CPU counts:
 * event-loop lag is reported but also grows when other processes starve this one, which more viewers would not
 * make worse for the server.
 */
export function overloaded(samples: readonly LoadSample[], policy: LoadPolicy): boolean {
  if (policy.maxCpu <= 0 || samples.length < 2) return false;
  return samples.slice(-2).every((s) => s.cpu >= policy.maxCpu);
}

export class LoadMonitor {
  readonly samples: LoadSample[] = [];
  readonly #policy: LoadPolicy;
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastCpu = process.cpuUsage();
  #lastAt = performance.now();

  readonly #onSample: ((s: LoadSample) => void) | undefined;

  constructor(policy: LoadPolicy, onSample?: (s: LoadSample) => void) {
    this.#policy = policy;
    this.#onSample = onSample;
    this.#timer = setInterval(() => this.#sample(), 1000);
    this.#timer.unref?.();
  }

  #sample(): void {
    const now = performance.now();
    const cpu = process.cpuUsage(this.#lastCpu);
    this.#lastCpu = process.cpuUsage();
    const elapsedMs = now - this.#lastAt;
    this.#lastAt = now;
    const sample = { cpu: (cpu.user + cpu.system) / 1000 / Math.max(1, elapsedMs), lagMs: Math.max(0, elapsedMs - 1000) };
    this.samples.push(sample);
    if (this.samples.length > 10) this.samples.shift();
    this.#onSample?.(sample);
  }

  get current(): LoadSample | undefined {
    return this.samples[this.samples.length - 1];
  }

  overloaded(): boolean {
    return overloaded(this.samples, this.#policy);
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
