// One ffmpeg child that cannot outlive roomcast. It runs under a small /bin/sh wrapper in its own process group;
// the wrapper keeps roomcast's end of a pipe (the child's stdin) open in a watchdog that kills the whole group when
// the pipe reaches EOF, which happens however roomcast ends: close(), SIGTERM, a crash or SIGKILL. (Linux's
// PR_SET_PDEATHSIG is not reachable from Bun or Node; a pipe works everywhere there is a /bin/sh.)
import { spawn, type ChildProcess } from "node:child_process";
import { StderrParser, type StderrEvent } from "./stderr.ts";

/**
 * fd 3 keeps the pipe for the watchdog; ffmpeg gets neither the pipe nor a stdout (its RTP muxer prints an SDP there).
 * Once ffmpeg runs, the wrapper ignores TERM/INT/HUP (and so does the watchdog it forks): a SIGTERM to the group
 * reaches only ffmpeg, the wrapper lives exactly as long as ffmpeg, and the watchdog stays as the backstop.
 * `kill -KILL 0` signals the wrapper's own process group, which is ffmpeg, the watchdog and the wrapper.
 */
const WATCHDOG_SCRIPT = [
  "exec 3<&0 </dev/null",
  '"$@" 3<&- >/dev/null &',
  "pid=$!",
  "trap '' TERM INT HUP",
  'echo "pid $pid"',
  "{ cat <&3 >/dev/null 2>&1; kill -KILL 0; } >/dev/null 2>&1 &",
  "exec 3<&-",
  'wait "$pid"',
].join("\n");

/** How long ffmpeg has to end on SIGTERM before the group gets SIGKILL. */
const TERM_GRACE_MS = 1500;

export interface FfmpegProcessEvents {
  onStderr(events: StderrEvent[]): void;
  /** Once, when the wrapper (and with it ffmpeg) has ended. */
  onExit(code: number | null, signal: NodeJS.Signals | null): void;
}

export class FfmpegProcess {
  /** The wrapper's pid, which is also the process group id. */
  readonly pid: number | undefined;
  /** ffmpeg's own pid, once the wrapper has reported it. */
  ffmpegPid: number | undefined;
  #child: ChildProcess;
  #exited = false;
  #killTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.pid = child.pid;
  }

  static spawn(ffmpegPath: string, args: readonly string[], events: FfmpegProcessEvents): FfmpegProcess {
    // detached: a new session and process group, so one signal to -pid reaches every process of this transcoder.
    const child = spawn("/bin/sh", ["-c", WATCHDOG_SCRIPT, "roomcast-ffmpeg", ffmpegPath, ...args], {
      detached: true,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const proc = new FfmpegProcess(child);
    const parser = new StderrParser();
    child.stdin?.on("error", () => undefined);
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (chunk: string) => {
      const m = /pid (\d+)/.exec(chunk);
      if (m) proc.ffmpegPid = Number(m[1]);
    });
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      const parsed = parser.push(chunk);
      if (parsed.length > 0) events.onStderr(parsed);
    });
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (proc.#exited) return;
      proc.#exited = true;
      clearTimeout(proc.#killTimer);
      // Ends the watchdog too: its cat sees EOF and takes down whatever is left of the group.
      child.stdin?.destroy();
      events.onExit(code, signal);
    };
    child.on("error", () => finish(null, null));
    child.on("exit", (code, signal) => finish(code, signal));
    return proc;
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** SIGTERM to the group, SIGKILL after a grace period; the watchdog is released at once as a backstop. */
  stop(): void {
    if (this.#exited) return;
    this.#signal("SIGTERM");
    this.#killTimer ??= setTimeout(() => this.kill(), TERM_GRACE_MS);
    this.#killTimer.unref?.();
  }

  /** SIGKILL to the whole group, synchronously (also safe from a process 'exit' handler). */
  kill(): void {
    this.#signal("SIGKILL");
    this.#child.stdin?.destroy();
  }

  #signal(signal: NodeJS.Signals): void {
    // After the wrapper has exited its group id may be reused; what is left of the group dies with the watchdog.
    if (this.pid === undefined || this.#exited) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: the group is already gone.
    }
  }
}
