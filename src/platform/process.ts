// Node processes and their channel to the supervisor, and pinning a process to one core. Bun's calls when running
// under Bun (Bun.spawn's ipc, bun:ffi to libc), Node's otherwise (vitest), behind the structural IpcPort.
import { spawn as nodeSpawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { platform } from "./index.ts";

/**
 * A process's message channel. The same shape as cluster/ipc.ts's IpcPort, declared here so that platform/ needs
 * nothing from above it: the types match structurally.
 */
export interface IpcPort {
  send(msg: unknown): void;
  onMessage(listener: (msg: unknown) => void): void;
  /** The other side went away. Called once. */
  onClose(listener: () => void): void;
}

export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

export interface SpawnedProcess {
  readonly pid: number;
  readonly port: IpcPort;
  readonly exited: Promise<ExitStatus>;
  kill(signal: NodeJS.Signals): void;
}

export interface SpawnSpec {
  cmd: string[];
  env: Record<string, string | undefined>;
}

/** A port whose close listeners run once, whichever of disconnect and exit comes first. */
function portOver(send: (msg: unknown) => void): { port: IpcPort; message(msg: unknown): void; close(): void } {
  const messageListeners: ((msg: unknown) => void)[] = [];
  const closeListeners: (() => void)[] = [];
  let closed = false;
  return {
    port: {
      send: (msg) => {
        if (!closed) send(msg);
      },
      onMessage: (l) => void messageListeners.push(l),
      onClose: (l) => void closeListeners.push(l),
    },
    message: (msg) => {
      if (!closed) for (const l of messageListeners) l(msg);
    },
    close: () => {
      if (closed) return;
      closed = true;
      for (const l of closeListeners) l();
    },
  };
}

/**
 * Starts a process with an IPC channel, its output on ours. JSON serialization: the messages are plain data, and
 * the same child works under a Bun or a Node parent.
 */
export function spawnWithIpc(spec: SpawnSpec): SpawnedProcess {
  if (typeof Bun !== "undefined") {
    let channel: ReturnType<typeof portOver> | undefined;
    const child = Bun.spawn(spec.cmd, {
      env: spec.env,
      stdio: ["ignore", "inherit", "inherit"],
      serialization: "json",
      ipc: (msg) => channel?.message(msg),
      onDisconnect: () => channel?.close(),
    });
    channel = portOver((msg) => child.send(msg));
    const c = channel;
    const exited = child.exited.then(() => {
      c.close();
      const signal = child.signalCode;
      return { code: child.exitCode, signal: signal === null ? null : String(signal) };
    });
    return { pid: child.pid, port: c.port, exited, kill: (signal) => child.kill(signal) };
  }
  const [file, ...args] = spec.cmd;
  if (file === undefined) throw new TypeError("empty command");
  const child = nodeSpawn(file, args, { env: spec.env, stdio: ["ignore", "inherit", "inherit", "ipc"], serialization: "json" });
  const channel = portOver((msg) => {
    if (child.connected) child.send(msg as Parameters<typeof child.send>[0]);
  });
  child.on("message", (msg) => channel.message(msg));
  child.on("disconnect", () => channel.close());
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once("exit", (code, signal) => {
      channel.close();
      resolve({ code, signal });
    });
    child.once("error", () => {
      channel.close();
      resolve({ code: null, signal: null });
    });
  });
  return { pid: child.pid ?? -1, port: channel.port, exited, kill: (signal) => void child.kill(signal) };
}

/** The channel to the supervisor that started this process, if one did. */
export function parentPort(): IpcPort | undefined {
  if (typeof process.send !== "function") return undefined;
  const channel = portOver((msg) => process.send?.(msg as Parameters<NonNullable<typeof process.send>>[0]));
  process.on("message", (msg) => channel.message(msg));
  process.once("disconnect", () => channel.close());
  return channel.port;
}

/**
 * How to start this same program again: the compiled binary alone, or the runtime plus the entry script when run
 * from source (a compiled binary's entry lives in its own virtual file system, not on disk).
 */
export function ownCommand(): string[] {
  const main = typeof Bun !== "undefined" ? Bun.main : process.argv[1];
  // A compiled binary's entry is in its embedded file system ("/$bunfs/..."; "B:/~BUN/..." on Windows), which
  // existsSync sees too: given as an argument, it would be taken for one of the user's.
  const embedded = main !== undefined && (main.startsWith("/$bunfs/") || main.includes("~BUN"));
  return main !== undefined && !embedded && existsSync(main) ? [process.execPath, main] : [process.execPath];
}

export type PinResult = { pinned: true; cpu: number } | { pinned: false; reason: string };

/** cpu_set_t as glibc declares it: 1024 bits. */
const CPU_SET_BYTES = 128;

/**
 * Pins every thread of this process to one core: the `index`-th of the cores it may run on (modulo their count),
 * through sched_setaffinity. Threads started later inherit it. A no-op with the reason where there is no such
 * call (not Linux, not Bun, no libc found).
 */
export function pinToCore(index: number): PinResult {
  if (process.platform !== "linux") return { pinned: false, reason: `no CPU affinity on ${process.platform}` };
  const libc = platform.loadNativeLibrary(["libc.so.6", "libc.so", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"], {
    sched_getaffinity: { args: ["i32", "u64", "ptr"], returns: "i32" },
    sched_setaffinity: { args: ["i32", "u64", "ptr"], returns: "i32" },
  });
  if (!libc) return { pinned: false, reason: `libc's sched_setaffinity is not reachable on ${platform.name}` };
  try {
    const allowed = new Uint8Array(CPU_SET_BYTES);
    if (libc.symbols.sched_getaffinity(0, CPU_SET_BYTES, allowed) !== 0) return { pinned: false, reason: "sched_getaffinity failed" };
    const cpus: number[] = [];
    for (let cpu = 0; cpu < CPU_SET_BYTES * 8; cpu++) if (((allowed[cpu >> 3] as number) >> (cpu & 7)) & 1) cpus.push(cpu);
    const cpu = cpus[index % cpus.length];
    if (cpu === undefined) return { pinned: false, reason: "no allowed CPU" };
    const mask = new Uint8Array(CPU_SET_BYTES);
    mask[cpu >> 3] = 1 << (cpu & 7);
    // Affinity is per thread: every thread running now, and the ones started later inherit from theirs.
    let tids: number[];
    try {
      tids = readdirSync("/proc/self/task").map(Number);
    } catch {
      tids = [0];
    }
    for (const tid of tids) {
      if (libc.symbols.sched_setaffinity(tid, CPU_SET_BYTES, mask) !== 0 && tid === 0) {
        return { pinned: false, reason: "sched_setaffinity failed" };
      }
    }
    return { pinned: true, cpu };
  } finally {
    libc.close();
  }
}
