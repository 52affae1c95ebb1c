// How long a publisher has really been silent. The reaper closes a publisher whose media stopped, but a stalled
// event loop looks the same from inside: when the loop wakes after a long stall, the timers run before the socket
// is read (libuv runs timers before polling), so the first tick sees only old packets while the new ones still sit
// unread in the socket. Issue 14 saw a healthy publisher and its room closed that way ("no media for 15 s").
//
// So silence is counted only over ticks that came on time: a late tick says the loop was not responsive, and it
// restarts the clock; the next tick, after the socket has been read, tells whether media really stopped.

/** The room registry's tick, which drives the reaper. */
export const ROOM_TICK_MS = 1000;

/** A tick this much later than due means the loop was stalled (a busy loop still runs ticks within ~100 ms). */
export const LATE_TICK_MS = 500;

export class IdleClock {
  #idleMs = 0;
  #lastActivity: number | undefined;

  /**
   * One tick: `elapsedMs` since the previous one (monotonic), `lastActivity` the time of the newest packet (or of the
   * connection), in any unit that only moves forward when something arrives. Returns the silence counted so far.
   */
  tick(elapsedMs: number, lastActivity: number, intervalMs = ROOM_TICK_MS): number {
    const active = this.#lastActivity !== lastActivity;
    this.#lastActivity = lastActivity;
    const late = !(elapsedMs >= 0 && elapsedMs <= intervalMs + LATE_TICK_MS);
    if (active || late) this.#idleMs = 0;
    else this.#idleMs += elapsedMs;
    return this.#idleMs;
  }

  get idleMs(): number {
    return this.#idleMs;
  }
}
