// Starts the real server as its own process: the compiled binary (dist/roomcast) by default, so the tests try
// what ships. ROOMCAST_E2E_SOURCE=1 runs src/main.ts with bun instead, for quick iteration.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "../../..");
export const BINARY = join(ROOT, "dist/roomcast");

export interface ServerHandle {
  url: string;
  port: number;
  proc: ChildProcess;
  cwd: string;
  /** Every stdout/stderr line so far. */
  lines: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

export function serverCommand(): { cmd: string; args: string[] } {
  if (process.env.ROOMCAST_E2E_SOURCE === "1") return { cmd: "bun", args: ["run", join(ROOT, "src/main.ts")] };
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run \`bun run build\` first (bun run test does)`);
  return { cmd: BINARY, args: [] };
}

/** Starts a server on a free port in an empty temporary folder, with loopback candidates and quiet logs. */
export async function startServer(env: Record<string, string> = {}, args: string[] = []): Promise<ServerHandle> {
  const cwd = mkdtempSync(join(tmpdir(), "roomcast-e2e-"));
  const { cmd, args: baseArgs } = serverCommand();
  const proc = spawn(cmd, [...baseArgs, ...args], {
    cwd,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? cwd,
      PORT: "0",
      HOST: "127.0.0.1",
      ANNOUNCED_IPS: "127.0.0.1",
      LOG_LEVEL: "info",
      RATE_LIMIT_RPS: "0",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const onData = (buf: Buffer) => {
    for (const line of buf.toString("utf8").split("\n")) {
      if (line === "") continue;
      lines.push(line);
      if (process.env.ROOMCAST_E2E_LOGS === "1") console.log(`[server] ${line}`);
      for (const w of [...waiters]) {
        if (w.pattern.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  };
  proc.stdout?.on("data", onData);
  proc.stderr?.on("data", onData);
  const exited = new Promise<number | null>((res) => proc.on("exit", (code) => res(code)));

  const waitForLog = (pattern: RegExp, timeoutMs = 10_000) =>
    new Promise<string>((res, rej) => {
      const found = lines.find((l) => pattern.test(l));
      if (found) return res(found);
      const timer = setTimeout(() => rej(new Error(`no log line matching ${pattern} in ${timeoutMs} ms:\n${lines.slice(-20).join("\n")}`)), timeoutMs);
      waiters.push({
        pattern,
        resolve: (l) => {
          clearTimeout(timer);
          res(l);
        },
      });
    });

  const listening = await Promise.race([
    waitForLog(/"msg":"listening on/, 15_000),
    exited.then((code) => {
      throw new Error(`server exited with ${code} before listening:\n${lines.join("\n")}`);
    }),
  ]);
  const port = (JSON.parse(listening) as { port: number }).port;
  const scheme = env.TLS_SELF_SIGNED === "true" || env.TLS_CERT ? "https" : "http";
  const handle: ServerHandle = {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    proc,
    cwd,
    lines,
    exited,
    waitForLog,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill("SIGKILL"), 8000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  return handle;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until check() returns a truthy value or the time runs out. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 10_000, what = "condition"): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

/** Waits until the server reports the room's publisher and `viewers` viewers connected (server side). */
export async function waitRoomConnected(url: string, room: string, viewers: number, timeoutMs = 10_000): Promise<void> {
  await waitFor(
    async () => {
      const res = await fetch(`${url}/api/rooms/${room}`);
      if (res.status !== 200) return false;
      const d = (await res.json()) as { publisher: { state: string } | null; viewers: { state: string }[] };
      return d.publisher?.state === "connected" && d.viewers.filter((v) => v.state === "connected").length >= viewers;
    },
    timeoutMs,
    `room ${room} connected with ${viewers} viewers`,
  );
}
