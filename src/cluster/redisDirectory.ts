// The directory of nodes on many machines: one Redis, through ioredis. Keys (PREFIX defaults to "roomcast:"):
//
//   PREFIX node:ID         hash {instance, info}: the node record, PX NODE_TTL_MS, rewritten by every heartbeat
//   PREFIX nodes           set of ids, pruned of those whose record expired
//   PREFIX presence:ID     JSON list of the node's rooms and counts, PX NODE_TTL_MS
//   PREFIX origin:ROOM     the id of the room's origin, PX NODE_TTL_MS, refreshed only by its owner
//   PREFIX bus             pub/sub channel: JSON {from, msg}
//
// Every write is one Lua script, so each rule is atomic: a claim is taken when the key is free or names a node
// whose record expired (SET PX), a heartbeat refreshes a claim only while it still names this node (the
// compare-and-set), re-takes one that expired, and reports the ones another live node holds. The scripts read
// node keys they compute from values, so this needs a single Redis (or a primary with replicas), not Redis
// Cluster.
//
// ioredis reconnects by itself. Commands are never queued while disconnected (enableOfflineQueue off) and time out
// after a second, so while Redis is away every call rejects at once with DirectoryUnavailableError; NodeDirectory
// registers again and re-claims when it is back. The subscriber is a second connection (a subscribed connection
// can do nothing else), resubscribed by ioredis; bus messages sent while it was away are not replayed.
import { Redis, ReplyError } from "ioredis";
import type { Logger } from "../log.ts";
import type { BackendSink, DirectoryBackend, HeartbeatRequest, HeartbeatResult, NodePresence, RegisterRequest } from "./backend.ts";
import { DirectoryUnavailableError, NODE_TTL_MS, type ClaimResult, type DirectoryState, type NodeInfo } from "./directory.ts";
import type { NodeId } from "./ids.ts";
import { parseEnvelope, parseJson, parseNodeInfo, parsePresenceList, type BusEnvelope } from "./messages.ts";
import { NodeDirectory, type NodeDirectoryOptions } from "./nodeDirectory.ts";

/** KEYS: node, nodes; ARGV: instance, info, ttl, id. 0 when another instance holds the id. */
const REGISTER = `
local cur = redis.call('HGET', KEYS[1], 'instance')
if cur and cur ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'instance', ARGV[1], 'info', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
return 1`;

/** KEYS: node, nodes, presence, origin of each claim; ARGV: instance, info, ttl, id, presence, node key prefix. */
const HEARTBEAT = `
local cur = redis.call('HGET', KEYS[1], 'instance')
if cur and cur ~= ARGV[1] then return {0, {}} end
redis.call('HSET', KEYS[1], 'instance', ARGV[1], 'info', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('SET', KEYS[3], ARGV[5], 'PX', ARGV[3])
local lost = {}
for i = 4, #KEYS do
  local owner = redis.call('GET', KEYS[i])
  if owner == ARGV[4] then
    redis.call('PEXPIRE', KEYS[i], ARGV[3])
  elseif (not owner) or redis.call('EXISTS', ARGV[6] .. owner) == 0 then
    redis.call('SET', KEYS[i], ARGV[4], 'PX', ARGV[3])
  else
    table.insert(lost, i - 3)
  end
end
return {1, lost}`;

/** KEYS: origin; ARGV: id, ttl, node key prefix. The owner's id and, when it is another node, its info. */
const CLAIM = `
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then
  local info = redis.call('HGET', ARGV[3] .. owner, 'info')
  if info then return {owner, info} end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {ARGV[1]}`;

/** KEYS: origin of each room; ARGV: id. Deletes those that still name it. */
const RELEASE = `
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return 1`;

/** KEYS: origin; ARGV: node key prefix. The live origin's info, or nil. */
const ORIGIN = `
local owner = redis.call('GET', KEYS[1])
if not owner then return nil end
return redis.call('HGET', ARGV[1] .. owner, 'info')`;

/** KEYS: nodes; ARGV: node key prefix, presence key prefix. Flat list: id, info, presence; prunes the dead. */
const LIST = `
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local info = redis.call('HGET', ARGV[1] .. id, 'info')
  if info then
    table.insert(out, id)
    table.insert(out, info)
    table.insert(out, redis.call('GET', ARGV[2] .. id) or '[]')
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return out`;

/** KEYS: node, nodes, presence; ARGV: instance, id. */
const LEAVE = `
if redis.call('HGET', KEYS[1], 'instance') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('SREM', KEYS[2], ARGV[2])
return 1`;

type Script = (...args: (string | number)[]) => Promise<unknown>;
type ScriptName = "register" | "heartbeat" | "claim" | "release" | "origin" | "list" | "leave";

export interface RedisBackendOptions {
  url: string;
  log: Logger;
  /** Key and channel prefix; tests give each cluster its own. */
  prefix?: string;
  ttlMs?: number;
  /** A command without an answer in this long fails (the directory counts as unavailable for it). */
  commandTimeoutMs?: number;
}

export class RedisBackend implements DirectoryBackend {
  readonly kind = "redis" as const;
  readonly #client: Redis;
  readonly #sub: Redis;
  readonly #prefix: string;
  readonly #ttl: number;
  readonly #log: Logger;
  readonly #scripts: Record<ScriptName, Script>;
  #sink: BackendSink | undefined;
  #state: DirectoryState = "unavailable";
  #subscribed = false;
  #closed = false;

  constructor(opts: RedisBackendOptions) {
    this.#prefix = opts.prefix ?? "roomcast:";
    this.#ttl = opts.ttlMs ?? NODE_TTL_MS;
    this.#log = opts.log;
    const options = {
      lazyConnect: true,
      enableOfflineQueue: false,
      commandTimeout: opts.commandTimeoutMs ?? 1000,
      connectTimeout: 2000,
      maxRetriesPerRequest: 0,
      // Quick at first (a restart), then once a second: rejoining within a heartbeat or two matters more here.
      retryStrategy: (times: number) => Math.min(50 * 2 ** times, 1000),
    };
    this.#client = new Redis(opts.url, options);
    this.#sub = new Redis(opts.url, options);
    const defs = { register: [REGISTER, 2], heartbeat: [HEARTBEAT], claim: [CLAIM, 1], release: [RELEASE], origin: [ORIGIN, 1], list: [LIST, 1], leave: [LEAVE, 3] } as const;
    for (const [name, [lua, numberOfKeys]] of Object.entries(defs) as [string, readonly [string, number?]][]) {
      this.#client.defineCommand(name, numberOfKeys === undefined ? { lua } : { lua, numberOfKeys });
    }
    // defineCommand adds methods ioredis cannot declare: one cast to their shape.
    const commands = this.#client as unknown as Record<string, Script>;
    this.#scripts = Object.fromEntries(Object.keys(defs).map((name) => [name, (commands[name] as Script).bind(this.#client)])) as Record<ScriptName, Script>;
    for (const conn of [this.#client, this.#sub]) {
      conn.on("ready", () => this.#updateState());
      conn.on("close", () => this.#updateState());
      conn.on("end", () => this.#updateState());
      // Every failed attempt is an error event; the state change is what matters, and is logged by the directory.
      conn.on("error", (err: Error) => this.#log.debug({ err: err.message }, "redis connection error"));
    }
    this.#sub.on("message", (channel: string, text: string) => this.#onMessage(channel, text));
  }

  get state(): DirectoryState {
    return this.#state;
  }

  #key(kind: "node" | "nodes" | "presence" | "origin" | "bus", name?: string): string {
    return name === undefined ? `${this.#prefix}${kind}` : `${this.#prefix}${kind}:${name}`;
  }

  #updateState(): void {
    if (this.#closed) return;
    const ready = this.#client.status === "ready" && this.#sub.status === "ready";
    if (ready && !this.#subscribed) {
      // The first subscribe; ioredis subscribes again by itself after every reconnect.
      this.#subscribed = true;
      this.#sub.subscribe(this.#key("bus")).then(
        () => this.#updateState(),
        (err: Error) => {
          this.#subscribed = false;
          this.#log.warn({ err: err.message }, "redis subscribe failed");
        },
      );
      return;
    }
    const state: DirectoryState = ready && this.#subscribed ? "connected" : "unavailable";
    if (state === this.#state) return;
    this.#state = state;
    this.#sink?.state(state);
  }

  #onMessage(channel: string, text: string): void {
    if (channel !== this.#key("bus")) return;
    const envelope = parseEnvelope(parseJson(text));
    if (!envelope) {
      this.#log.warn({ bytes: text.length }, "malformed message on the cluster bus dropped");
      return;
    }
    this.#sink?.message(envelope);
  }

  async connect(sink: BackendSink, timeoutMs: number): Promise<void> {
    this.#sink = sink;
    const reached = new Promise<void>((resolve) => {
      const check = () => {
        if (this.#state === "connected") {
          clearInterval(timer);
          resolve();
        }
      };
      const timer = setInterval(check, 20);
      check();
    });
    // The first attempt's failure is not the end: ioredis goes on retrying, and `reached` waits for it.
    void this.#client.connect().catch(() => undefined);
    void this.#sub.connect().catch(() => undefined);
    let timeout: ReturnType<typeof setTimeout> | undefined;
    const gaveUp = new Promise<"timeout">((resolve) => (timeout = setTimeout(() => resolve("timeout"), timeoutMs)));
    const outcome = await Promise.race([reached, gaveUp]);
    clearTimeout(timeout);
    if (outcome === "timeout") throw new DirectoryUnavailableError(`redis unreachable after ${timeoutMs} ms`);
  }

  /** Connection failures and timeouts are the directory being away; Redis's own error replies are bugs. */
  async #run<T>(op: () => Promise<T>): Promise<T> {
    if (this.#state !== "connected") throw new DirectoryUnavailableError();
    try {
      return await op();
    } catch (err) {
      if (err instanceof ReplyError) throw err;
      throw new DirectoryUnavailableError(`cluster directory unavailable: ${(err as Error).message}`);
    }
  }

  register(req: RegisterRequest): Promise<boolean> {
    return this.#run(async () => {
      const ok = await this.#scripts.register(this.#key("node", req.id), this.#key("nodes"), req.instance, JSON.stringify(req.info), this.#ttl, req.id);
      return ok === 1;
    });
  }

  heartbeat(req: HeartbeatRequest): Promise<HeartbeatResult> {
    return this.#run(async () => {
      const keys = [this.#key("node", req.id), this.#key("nodes"), this.#key("presence", req.id), ...req.claims.map((room) => this.#key("origin", room))];
      const reply = (await this.#scripts.heartbeat(
        keys.length,
        ...keys,
        req.instance,
        JSON.stringify(req.info),
        this.#ttl,
        req.id,
        JSON.stringify(req.presence),
        this.#key("node", ""),
      )) as [number, number[]];
      const [registered, lostAt] = reply;
      return { registered: registered === 1, lost: lostAt.map((i) => req.claims[i - 1] as string) };
    });
  }

  claim(room: string, node: NodeId): Promise<ClaimResult> {
    return this.#run(async () => {
      const [owner, info] = (await this.#scripts.claim(this.#key("origin", room), node, this.#ttl, this.#key("node", ""))) as [string, string?];
      if (owner === node || info === undefined) return { won: true };
      const origin = parseNodeInfo(parseJson(info));
      if (!origin) throw new Error(`room ${room}: the origin's node record does not parse`);
      return { won: false, origin };
    });
  }

  release(room: string, node: NodeId): Promise<void> {
    return this.#run(async () => {
      await this.#scripts.release(1, this.#key("origin", room), node);
    });
  }

  origin(room: string): Promise<NodeInfo | undefined> {
    return this.#run(async () => {
      const info = (await this.#scripts.origin(this.#key("origin", room), this.#key("node", ""))) as string | null;
      return info === null ? undefined : parseNodeInfo(parseJson(info));
    });
  }

  async #list(): Promise<{ info: NodeInfo; presence: NodePresence }[]> {
    const flat = (await this.#scripts.list(this.#key("nodes"), this.#key("node", ""), this.#key("presence", ""))) as string[];
    const out: { info: NodeInfo; presence: NodePresence }[] = [];
    for (let i = 0; i + 2 < flat.length; i += 3) {
      const info = parseNodeInfo(parseJson(flat[i + 1] as string));
      if (!info || info.id !== flat[i]) {
        this.#log.warn({ node: flat[i] }, "node record that does not parse left out");
        continue;
      }
      out.push({ info, presence: { node: info.id, rooms: parsePresenceList(parseJson(flat[i + 2] as string)) } });
    }
    return out;
  }

  nodes(): Promise<NodeInfo[]> {
    return this.#run(async () => (await this.#list()).map((n) => n.info));
  }

  presence(): Promise<NodePresence[]> {
    return this.#run(async () => (await this.#list()).map((n) => n.presence));
  }

  publish(envelope: BusEnvelope): Promise<void> {
    return this.#run(async () => {
      await this.#client.publish(this.#key("bus"), JSON.stringify(envelope));
    });
  }

  leave(node: NodeId, instance: string, rooms: string[]): Promise<void> {
    return this.#run(async () => {
      if (rooms.length > 0) await this.#scripts.release(rooms.length, ...rooms.map((room) => this.#key("origin", room)), node);
      await this.#scripts.leave(this.#key("node", node), this.#key("nodes"), this.#key("presence", node), instance, node);
      // As the supervisor says for its nodes: edges relaying these rooms end their relays now, not in 3 s.
      for (const room of rooms) await this.publish({ from: node, msg: { type: "room-closed", room, node } });
      await this.publish({ from: node, msg: { type: "node-left", node } });
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#sink = undefined;
    this.#state = "unavailable";
    this.#client.disconnect();
    this.#sub.disconnect();
  }
}

export interface RedisDirectoryOptions extends NodeDirectoryOptions {
  redisUrl: string;
  prefix?: string;
}

export class RedisDirectory extends NodeDirectory {
  constructor(opts: RedisDirectoryOptions) {
    super(new RedisBackend({ url: opts.redisUrl, log: opts.log, prefix: opts.prefix }), opts);
  }
}
