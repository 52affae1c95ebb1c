// `bun run bench [mode] [-- options]`: one entry point for the benchmarks, so each lives in its own file and
// only the chosen one is loaded. No mode (or `forward`) is the forwarding benchmark of issue 7.
import { existsSync } from "node:fs";
import { join } from "node:path";

const [first, ...rest] = process.argv.slice(2);
// Options may come first (`bun run bench -- --quick`), so only a bare word names a mode.
const mode = first === undefined || first.startsWith("-") ? "forward" : first;
const args = first === undefined || first.startsWith("-") ? process.argv.slice(2) : rest;

const modes: Record<string, string> = {
  forward: "forward.ts",
  transcode: "transcode.ts",
  collapse: "collapse.ts",
  sdp: "sdp.ts",
  records: "records.ts",
};

const file = modes[mode];
if (file === undefined || !existsSync(join(import.meta.dir, file))) {
  console.error(`bench: unknown or missing mode "${mode}" (modes: ${Object.keys(modes).join(", ")})`);
  process.exit(2);
}
// A mode exports main(args) returning the exit code; a mode that runs on import needs nothing more.
const mod = (await import(`./${file}`)) as { main?: (args: string[]) => Promise<number> };
if (typeof mod.main === "function") process.exitCode = await mod.main(args);
