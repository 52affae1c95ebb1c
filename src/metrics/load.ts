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

/** What one forwarded packet costs before the server has measured it: on the high side, so a cold start is careful. */
export const DEFAULT_US_PER_PACKET = 30;
/**
 * An admitted viewer's packets show in the CPU samples only once it has connected and a whole sample has passed:
 * until then its expected cost is reserved, so a burst of WHEP POSTs cannot all fit in the same headroom. The
 * session releases it RESERVATION_MS after connecting (or at once when it fails); one never released lapses.
 */
export const RESERVATION_MS = 2500;
const RESERVATION_MAX_MS = 60_000;

/** An admitted viewer's reserved share; release() is idempotent. */
export interface Reservation {
  release(afterMs?: number): void;
}
/**
 * A sample older than this is taken again when admission reads it. A saturated event loop can keep the
 * once-a-second timer from firing for seconds while it still serves HTTP (seen with hundreds of viewers joining at
 * once on one core): admission must not judge a WHEP POST by the CPU of before the load.
 */
const STALE_SAMPLE_MS = 1500;
/** Seconds of forwarding at this rate or more give a per-packet cost worth learning from. */
const MIN_FORWARDED_PER_SEC = 2000;

export interface AdmissionInput {
  /** Share of one core used over the last second. */
  cpu: number;
  /** Measured CPU µs per forwarded packet (fixed costs included, so it errs high). */
  usPerPacket: number;
  /** Packets per second of viewers admitted but not yet visible in `cpu`. */
  reservedPps: number;
  /** Packets per second the new viewer would be sent. */
  newPps: number;
}

/**
 * Whether one more viewer fits: today's load plus what the recently admitted and this one will add stays under
 * the limit. Pure, for tests.
 */
export function fits(input: AdmissionInput, policy: LoadPolicy): boolean {
  if (policy.maxCpu <= 0) return true;
  const added = ((input.reservedPps + input.newPps) * input.usPerPacket) / 1e6;
  return input.cpu + added < policy.maxCpu;
}

const NO_RESERVATION: Reservation = { release: () => undefined };

export class LoadMonitor {
  readonly samples: LoadSample[] = [];
  readonly #policy: LoadPolicy;
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastCpu = process.cpuUsage();
  #lastAt = performance.now();
  #forwarded = 0;
  #usPerPacket = DEFAULT_US_PER_PACKET;
  #reservations: { pps: number; at: number; released: boolean }[] = [];

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
    const forwarded = this.#forwarded;
    this.#forwarded = 0;
    const cpuUs = cpu.user + cpu.system;
    const sample = { cpu: cpuUs / 1000 / Math.max(1, elapsedMs), lagMs: Math.max(0, elapsedMs - 1000) };
    if ((forwarded * 1000) / Math.max(1, elapsedMs) >= MIN_FORWARDED_PER_SEC) {
      // Smoothed, but quick to follow: a cost that rises (more rooms, bigger packets) is learnt within seconds.
      this.#usPerPacket = 0.5 * this.#usPerPacket + 0.5 * (cpuUs / forwarded);
    }
    this.samples.push(sample);
    if (this.samples.length > 10) this.samples.shift();
    this.#onSample?.(sample);
  }

  get current(): LoadSample | undefined {
    return this.samples[this.samples.length - 1];
  }

  /** Called by the forwarding path with the packets it just sent: a plain add, nothing per packet beyond it. */
  countForwarded(packets: number): void {
    this.#forwarded += packets;
  }

  get usPerPacket(): number {
    return this.#usPerPacket;
  }

  overloaded(): boolean {
    return overloaded(this.samples, this.#policy);
  }

  /**
   * Packets per second admission would still admit now, for the cluster's placement (docs/cluster.md): what the
   * CPU left under the limit buys at the measured cost per packet, less what is reserved; 0 while overloaded, and
   * Number.MAX_SAFE_INTEGER with admission off (JSON has no Infinity).
   */
  headroomPps(now = performance.now()): number {
    if (this.#policy.maxCpu <= 0) return Number.MAX_SAFE_INTEGER;
    if (this.overloaded()) return 0;
    const spare = this.#policy.maxCpu - (this.current?.cpu ?? 0);
    return Math.max(0, Math.floor((spare * 1e6) / this.#usPerPacket - this.#reservedPps(now)));
  }

  #reservedPps(now: number): number {
    this.#reservations = this.#reservations.filter((r) => !r.released && now - r.at < RESERVATION_MAX_MS);
    return this.#reservations.reduce((sum, r) => sum + r.pps, 0);
  }

  /**
   * Admission for a viewer that would be sent `pps` packets a second: refused while the server has been at its
   * limit for two seconds, or when the measured cost of its packets (and of the viewers admitted whose cost the
   * CPU figure does not show yet) would take the server past its limit. An admitted viewer's cost is reserved
   * until its session releases it.
   */
  admit(pps: number, now = performance.now()): Reservation | undefined {
    if (this.#policy.maxCpu <= 0) return NO_RESERVATION;
    if (performance.now() - this.#lastAt > STALE_SAMPLE_MS) this.#sample();
    if (this.overloaded()) return undefined;
    const reservedPps = this.#reservedPps(now);
    const cpu = this.current?.cpu ?? 0;
    if (!fits({ cpu, usPerPacket: this.#usPerPacket, reservedPps, newPps: pps }, this.#policy)) return undefined;
    const entry = { pps, at: now, released: false };
    this.#reservations.push(entry);
    return {
      release(afterMs = 0) {
        if (afterMs <= 0) entry.released = true;
        else setTimeout(() => (entry.released = true), afterMs).unref?.();
      },
    };
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
