// Finding and running ffmpeg. The binary is resolved at run time, in this order: ffmpeg-static's download (its
// install script is blocked by trustedDependencies, so usually absent), FFMPEG_PATH, then `ffmpeg` on PATH. The
// recorder's mkv remux uses it now; transcoding will reuse it.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export type FfmpegSource = "ffmpeg-static" | "FFMPEG_PATH" | "PATH";

export interface FfmpegBinary {
  path: string;
  source: FfmpegSource;
  /** First line of `ffmpeg -version`. */
  version: string;
}

/** Where ffmpeg-static would have put its binary, if its package is installed and the binary is there. */
function ffmpegStaticPath(): string | undefined {
  try {
    // Not `import "ffmpeg-static"`: its index reads the environment itself, and config.ts is the only reader.
    const pkg = createRequire(import.meta.url).resolve("ffmpeg-static/package.json");
    const bin = join(dirname(pkg), process.platform === "win32" ? "ffmpeg.exe" : "ffmpeg");
    return existsSync(bin) ? bin : undefined;
  } catch {
    return undefined;
  }
}

export function ffmpegCandidates(opts: { ffmpegPath: string | undefined; staticPath?: string | undefined }): { path: string; source: FfmpegSource }[] {
  const out: { path: string; source: FfmpegSource }[] = [];
  const staticPath = "staticPath" in opts ? opts.staticPath : ffmpegStaticPath();
  if (staticPath) out.push({ path: staticPath, source: "ffmpeg-static" });
  if (opts.ffmpegPath) out.push({ path: opts.ffmpegPath, source: "FFMPEG_PATH" });
  out.push({ path: "ffmpeg", source: "PATH" });
  return out;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last few KB of stderr, for the log line when it fails. */
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  timeoutMs: number;
  /** Aborting kills the process (SIGKILL); the promise still resolves. */
  signal?: AbortSignal;
}

const STDERR_KEEP = 4096;

/** Runs ffmpeg to completion. Never rejects: a binary that cannot start resolves with code null and the error. */
export function runFfmpeg(path: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve) => {
    let stderr = "";
    let timedOut = false;
    let settled = false;
    const finish = (r: Omit<RunResult, "stderr" | "timedOut">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      resolve({ ...r, stderr: stderr.trim(), timedOut });
    };
    const child = spawn(path, args, { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_KEEP);
    });
    child.on("error", (err) => {
      stderr += String(err.message);
      finish({ code: null, signal: null });
    });
    child.on("close", (code, signal) => finish({ code, signal }));
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, opts.timeoutMs);
    timer.unref?.();
    const onAbort = () => kill();
    if (opts.signal?.aborted) kill();
    else opts.signal?.addEventListener("abort", onAbort, { once: true });
  });
}

const resolved = new Map<string, Promise<FfmpegBinary | undefined>>();

/**
 * The first candidate that answers `-version`, remembered per process. Undefined when none does: callers skip what
 * needs ffmpeg and say so once.
 */
export function resolveFfmpeg(opts: { ffmpegPath: string | undefined }): Promise<FfmpegBinary | undefined> {
  const key = opts.ffmpegPath ?? "";
  let p = resolved.get(key);
  if (!p) {
    p = (async () => {
      for (const c of ffmpegCandidates(opts)) {
        const r = await runVersion(c.path);
        if (r) return { ...c, version: r };
      }
      return undefined;
    })();
    resolved.set(key, p);
  }
  return p;
}

function runVersion(path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    let out = "";
    const child = spawn(path, ["-hide_banner", "-version"], { stdio: ["ignore", "pipe", "ignore"] });
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (c: string) => {
      out += c;
    });
    child.on("error", () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve(code === 0 && out.startsWith("ffmpeg version") ? (out.split("\n")[0] ?? "ffmpeg") : undefined);
    });
  });
}
