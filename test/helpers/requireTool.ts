// The machine tools the tests drive (a real Chromium, ffmpeg, ffprobe, redis-server): a test that needs one fails,
// saying what to install, instead of being skipped (GStreamer's helper does the same for its Python bindings).
// .ci/run installs them all.
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** Where each tool is looked for when it is not on PATH, and the Debian package that has it. */
const TOOLS = {
  chromium: { path: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", apt: "chromium" },
  ffmpeg: { path: process.env.FFMPEG_PATH, apt: "ffmpeg" },
  ffprobe: { path: undefined, apt: "ffmpeg" },
  "redis-server": { path: undefined, apt: "redis-server" },
} as const satisfies Record<string, { path: string | undefined; apt: string }>;

export type Tool = keyof typeof TOOLS;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir !== "" && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

const found = new Map<Tool, string>();

/** The tool's path; throws, naming the package to install, when the machine does not have it. */
export function requireTool(name: Tool): string {
  const known = found.get(name);
  if (known) return known;
  const tool = TOOLS[name];
  const path = tool.path !== undefined && executable(tool.path) ? tool.path : onPath(name);
  if (!path) {
    throw new Error(`${name} is needed by these tests and is not installed (${tool.path ?? "not on PATH"}): apt-get install ${tool.apt}, or run .ci/run, which installs everything the suite needs`);
  }
  found.set(name, path);
  return path;
}
