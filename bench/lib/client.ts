// The benchmark's side of the client worker (clientWorker.ts): starts it, sends commands, awaits their replies
// with a time limit each.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import type { Collected, Command, Reply, SentMark, ViewersResult, WorkerLine } from "./protocol.ts";
import { spawnChild, type Child } from "./proc.ts";

/**
 * Where the client worker runs. Node by default when it is installed: node-datachannel hands each received packet
 * to JavaScript through an N-API thread-safe function, which measured ~10 µs per packet cheaper under Node 20
 * than under Bun 1.4.5 (the client must stay cheap next to the server it measures).
 */
export type ClientRuntime = "node" | "bun";

export function defaultClientRuntime(): ClientRuntime {
  const out = spawnSync("node", ["--version"], { encoding: "utf8" });
  const major = Number(/^v(\d+)/.exec(out.stdout ?? "")?.[1]);
  return out.status === 0 && major >= 18 ? "node" : "bun";
}

/** Node cannot run TypeScript here (v20): bundle the worker to one .mjs beside node_modules, addon left external. */
async function buildForNode(script: string): Promise<string> {
  const outdir = join(import.meta.dir, "../../node_modules/.cache/roomcast-bench");
  const result = await Bun.build({ entrypoints: [script], outdir, target: "node", format: "esm", external: ["node-datachannel"] });
  const out = result.outputs[0];
  if (!result.success || out === undefined) throw new Error(`could not build the client worker for node: ${result.logs.join("\n")}`);
  return out.path;
}

type CommandBody = Command extends infer C ? (C extends Command ? Omit<C, "id"> : never) : never;

export class ClientWorker {
  readonly child: Child;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();

  private constructor(child: Child, onNote: (message: string) => void) {
    this.child = child;
    child.onLine((line, stream) => {
      if (stream === "stderr" || !line.startsWith("{")) return;
      let msg: WorkerLine;
      try {
        msg = JSON.parse(line) as WorkerLine;
      } catch {
        return;
      }
      if (msg.t === "note") return onNote(msg.message);
      const waiter = this.#pending.get(msg.id);
      if (!waiter) return;
      this.#pending.delete(msg.id);
      if (msg.t === "error") waiter.reject(new Error(`client worker: ${msg.message}`));
      else waiter.resolve(msg);
    });
    void child.exited.then((code) => {
      for (const w of this.#pending.values()) w.reject(new Error(`client worker exited (${code}):\n${child.tail.slice(-10).join("\n")}`));
      this.#pending.clear();
    });
  }

  static async start(runtime: ClientRuntime, cpus: string | undefined, maxSeconds: number, onNote: (message: string) => void): Promise<ClientWorker> {
    const script = join(import.meta.dir, "clientWorker.ts");
    const child = await spawnChild({
      cmd: runtime === "node" ? "node" : process.execPath,
      args: [runtime === "node" ? await buildForNode(script) : script],
      cpus,
      maxSeconds,
    });
    return new ClientWorker(child, onNote);
  }

  #send(body: CommandBody, timeoutMs: number): Promise<Reply> {
    const id = this.#nextId++;
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`client worker did not answer "${body.t}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.proc.stdin?.write(`${JSON.stringify({ ...body, id })}\n`);
    });
  }

  /** The publisher's probes carry performance.now() of this worker; this is its clock's origin, epoch ms. */
  timeOrigin = 0;

  async publish(url: string, room: string, timeoutMs: number): Promise<number> {
    const r = await this.#send({ t: "publish", url, room, timeoutMs }, timeoutMs + 5000);
    if (r.t !== "published") throw new Error(`unexpected reply ${r.t}`);
    this.timeOrigin = r.timeOrigin;
    return r.ms;
  }

  async viewers(url: string, room: string, count: number, concurrency: number, timeoutMs: number): Promise<ViewersResult> {
    const r = await this.#send({ t: "viewers", url, room, count, concurrency, timeoutMs }, timeoutMs + 10_000);
    if (r.t !== "viewers") throw new Error(`unexpected reply ${r.t}`);
    return r.result;
  }

  async mark(which: "windowStart" | "windowEnd"): Promise<SentMark> {
    const r = await this.#send({ t: which }, 10_000);
    if (r.t !== "mark") throw new Error(`unexpected reply ${r.t}`);
    return r.mark;
  }

  async collect(): Promise<Collected> {
    const r = await this.#send({ t: "collect" }, 10_000);
    if (r.t !== "collected") throw new Error(`unexpected reply ${r.t}`);
    return r.collected;
  }

  async stop(): Promise<void> {
    await this.#send({ t: "stop" }, 3000).catch(() => undefined);
    // The worker exits on its own; stop() makes sure of it.
    await Promise.race([this.child.exited, new Promise((r) => setTimeout(r, 3000))]);
    await this.child.stop();
  }
}
