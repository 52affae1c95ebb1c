// The one place that reads the environment. Everything else receives a typed, validated Config.
import { isIP } from "node:net";
import { availableParallelism } from "node:os";
import { MAX_WORKERS, workerDirectPort, workerPortRange } from "./cluster/workerPlan.ts";
import { LadderError, parseLadder, type Ladder } from "./media/transcode/ladder.ts";
import { ENCODER_SETTINGS, type EncoderSetting } from "./media/transcode/encoderArgs.ts";

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

export interface Config {
  port: number;
  host: string;
  cluster: ClusterConfig;
  authToken: string | undefined;
  roomTokens: ReadonlyMap<string, string>;
  jwtSecret: string | undefined;
  adminToken: string | undefined;
  /** Steady requests per second per client IP on WHIP/WHEP/admin endpoints; 0 turns the limit off. */
  rateLimitRps: number;
  /** Extra requests a client may make at once above the steady rate. */
  rateLimitBurst: number;
  /** MAX_SUBS_PER_ROOM (the contract's name): viewers one room takes; 0 = no limit. */
  maxViewersPerRoom: number;
  allowedOrigin: string;
  iceServers: IceServer[];
  announcedIps: string[];
  rtcPortRange: [number, number] | undefined;
  recordEnabled: boolean;
  recordDir: string;
  /** Finished recordings older than this many seconds are deleted; undefined keeps them. */
  recordMaxAgeSec: number | undefined;
  /** Oldest finished recordings are deleted while the folder holds more than this; undefined = no limit. */
  recordMaxBytes: number | undefined;
  /** ffmpeg to use when ffmpeg-static's binary is absent; otherwise `ffmpeg` on PATH. */
  ffmpegPath: string | undefined;
  /** The ladder every room is transcoded to; empty = off unless a room asks (WHIP ?ladder= or a JWT claim). */
  transcodeLadder: Ladder;
  /** auto probes NVENC and falls back to libx264; the others force an encoder. */
  transcodeEncoder: EncoderSetting;
  logLevel: LogLevel;
  tls: { certFile: string; keyFile: string } | { selfSigned: true } | undefined;
  dataDir: string;
  /** Seconds a session may stay without ICE/DTLS connected before it is reaped. */
  connectTimeoutSec: number;
  /** Admission control: share of one core at which new viewers get 503; 0 turns it off. */
  admissionMaxCpu: number;
  /** Milliseconds added before every auth failure answer, so tokens cannot be probed quickly. */
  authFailDelayMs: number;
  /**
   * How many times more often a function must run before JavaScriptCore compiles it with its optimizing tiers.
   * The forwarding path runs thousands of times a second and is compiled anyway; the code that runs a few times
   * per session (SDP, DTLS handshakes) is not, which saves its machine code (see README, memory).
   */
  jitTierUpScale: number;
  /** Receivers from WEBHOOK_URLS and how events are delivered to every receiver. */
  webhooks: WebhookConfig;
  /** AUTH_HOOK_URL and its settings; undefined when no hook is configured. */
  authHook: AuthHookConfig | undefined;
}

export interface WebhookConfig {
  urls: string[];
  /** HMAC-SHA256 key for X-Roomcast-Signature; unsigned deliveries without it. */
  secret: string | undefined;
  timeoutMs: number;
  /** Attempts after the first one, on network errors, 5xx and 429. */
  retries: number;
}

export interface AuthHookConfig {
  url: string;
  timeoutMs: number;
  /** How long an allow is reused; denials for less (see auth/authHook.ts); 0 = ask every time. */
  cacheMs: number;
  /** A hook that fails or times out allows instead of refusing with 503. */
  failOpen: boolean;
}

/** How this process takes part in a cluster (docs/cluster.md). */
export interface ClusterConfig {
  /** WORKERS: node processes a supervisor starts, one per core; 1 = this process is the one node. */
  workers: number;
  /** In a node process the supervisor started: its index, and the port it alone listens on. */
  worker: { index: number; directPort: number } | undefined;
  redisUrl: string | undefined;
  /** Signs the tokens nodes show each other; a supervisor without one makes a random one for its nodes. */
  secret: string | undefined;
  /** How clients reach this machine: scheme, host and port, no path. */
  publicUrl: string | undefined;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = "ConfigError";
  }
}

interface VarDoc {
  name: string;
  def: string;
  doc: string;
}

/** Receivers from WEBHOOK_URLS and the admin API together: each holds a queue and a few connections. */
export const MAX_WEBHOOK_RECEIVERS = 16;

/** Every variable the server reads, in the order `--help` lists them. */
export const ENV_VARS: readonly VarDoc[] = [
  { name: "PORT", def: "8080", doc: "HTTP(S) port" },
  { name: "HOST", def: "0.0.0.0", doc: "address to listen on" },
  { name: "WORKERS", def: "1", doc: `node processes to run, one pinned to each core, all on PORT (each also on PORT+1+i): a number up to ${MAX_WORKERS}, or auto (one per core)` },
  { name: "PUBLIC_URL", def: "", doc: "how clients reach this machine, for redirects and Location URLs: https://sfu-3.example.com:8443 (default http(s)://HOST:PORT)" },
  { name: "REDIS_URL", def: "", doc: "redis:// or rediss:// URL of the Redis that nodes on many machines share as their directory (needs CLUSTER_SECRET)" },
  { name: "CLUSTER_SECRET", def: "", doc: "secret (16 characters or more) that signs the tokens nodes show each other; with WORKERS alone, a random one" },
  { name: "ROOMCAST_WORKER", def: "", doc: "set by the supervisor in the node processes it starts (their index); not for operators" },
  { name: "AUTH_TOKEN", def: "", doc: "token that opens every room" },
  { name: "ROOM_TOKENS", def: "", doc: "per-room tokens: room:token,room2:token2" },
  { name: "JWT_SECRET", def: "", doc: "HS256 secret for JWTs with claims room (name or *), exp, optional can" },
  { name: "ADMIN_TOKEN", def: "", doc: "token for /api/admin/* (also opens every room)" },
  { name: "RATE_LIMIT_RPS", def: "10", doc: "requests per second per client IP on WHIP/WHEP/admin; 0 = off" },
  { name: "RATE_LIMIT_BURST", def: "20", doc: "requests above the steady rate a client may make at once" },
  { name: "MAX_SUBS_PER_ROOM", def: "500", doc: "viewers per room; 0 = unlimited" },
  { name: "ALLOWED_ORIGIN", def: "*", doc: "CORS Access-Control-Allow-Origin" },
  { name: "ICE_SERVERS", def: "", doc: "comma list: stun:host:port, turn:user:pass@host:port?transport=udp" },
  { name: "ANNOUNCED_IPS", def: "", doc: "comma list of IPs put in host candidates instead of the local ones (NAT, containers)" },
  { name: "RTC_PORT_MIN", def: "", doc: "lowest UDP port for media (set with RTC_PORT_MAX); all media shares the first free port of the range" },
  { name: "RTC_PORT_MAX", def: "", doc: "highest UDP port for media" },
  { name: "RECORD_ENABLED", def: "false", doc: "record every room to RECORD_DIR" },
  { name: "RECORD_DIR", def: "./recordings", doc: "folder for recordings" },
  { name: "RECORD_MAX_AGE", def: "", doc: "delete finished recordings older than this: 90s, 30m, 12h, 7d" },
  { name: "RECORD_MAX_BYTES", def: "", doc: "delete the oldest finished recordings while RECORD_DIR holds more: 500M, 10G" },
  { name: "FFMPEG_PATH", def: "", doc: "ffmpeg binary for the mkv remux and transcoding (default: ffmpeg-static's if present, else ffmpeg on PATH)" },
  { name: "TRANSCODE_LADDER", def: "", doc: "transcode every room to these renditions: 720p:2500k,480p:1200k,240p:400k (default: off)" },
  { name: "TRANSCODE_ENCODER", def: "auto", doc: "auto (NVENC if a real test encode works, else libx264), nvenc, x264 or vp8" },
  { name: "LOG_LEVEL", def: "info", doc: "fatal, error, warn, info, debug, trace or silent" },
  { name: "TLS_CERT", def: "", doc: "PEM certificate file for HTTPS (with TLS_KEY)" },
  { name: "TLS_KEY", def: "", doc: "PEM private key file for HTTPS" },
  { name: "TLS_SELF_SIGNED", def: "false", doc: "serve HTTPS with a self-signed certificate kept in DATA_DIR" },
  { name: "DATA_DIR", def: "./data", doc: "folder for server state: the self-signed certificate, stats captures" },
  { name: "ADMISSION_MAX_CPU", def: "0.75", doc: "refuse new viewers (503 + Retry-After) while the server uses this share of its core; 0 = off" },
  { name: "JIT_TIER_UP_SCALE", def: "10", doc: "how much more often a function must run before the JIT optimizes it (1 = JavaScriptCore's default); higher saves memory, costs CPU" },
  { name: "CONNECT_TIMEOUT", def: "30", doc: "seconds a session may take to connect (and stay disconnected) before it is reaped" },
  { name: "WEBHOOK_URLS", def: "", doc: `comma list of http(s) URLs that receive every event (at most ${MAX_WEBHOOK_RECEIVERS} receivers with the admin API's)` },
  { name: "WEBHOOK_SECRET", def: "", doc: "HMAC-SHA256 key: X-Roomcast-Signature: sha256=hex(HMAC(secret, timestamp + \".\" + body))" },
  { name: "WEBHOOK_TIMEOUT", def: "5s", doc: "timeout of one webhook delivery attempt: 500ms, 5s" },
  { name: "WEBHOOK_RETRIES", def: "5", doc: "attempts after the first on network errors, 5xx and 429, with exponential backoff and jitter" },
  { name: "AUTH_HOOK_URL", def: "", doc: "http(s) URL asked before publish, play and records access (POST {room, action, token, ip}); 2xx allows" },
  { name: "AUTH_HOOK_TIMEOUT", def: "2s", doc: "how long to wait for the auth hook before refusing with 503" },
  { name: "AUTH_HOOK_CACHE", def: "10s", doc: "how long an auth hook answer is reused (denials at most 2s); 0 = ask every time" },
  { name: "AUTH_HOOK_FAIL_OPEN", def: "false", doc: "allow when the auth hook fails or times out, instead of 503" },
];


const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
export const ROOM_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export type Env = Readonly<Record<string, string | undefined>>;

function str(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === "" ? undefined : v;
}

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === undefined) return def;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function ratio(env: Env, name: string, def: number): number {
  const raw = str(env, name);
  if (raw === undefined) return def;
  if (!/^\d+(\.\d+)?$/.test(raw) || Number(raw) > 64) throw new ConfigError(name, `must be a number from 0 to 64, got "${raw}"`);
  return Number(raw);
}

function bool(env: Env, name: string): boolean {
  const raw = str(env, name)?.toLowerCase();
  if (raw === undefined) return false;
  if (["1", "true", "yes", "on"].includes(raw)) return true;
  if (["0", "false", "no", "off"].includes(raw)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function list(env: Env, name: string): string[] {
  const raw = str(env, name);
  if (raw === undefined) return [];
  return raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** `90s`, `30m`, `12h`, `7d`, `2w`, or plain seconds. */
function duration(env: Env, name: string): number | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  const m = /^(\d+)\s*([smhdw]?)$/i.exec(raw);
  const n = m ? Number(m[1]) * (DURATION_UNITS[(m[2] || "s").toLowerCase()] as number) : NaN;
  if (!m || n <= 0 || !Number.isSafeInteger(n)) throw new ConfigError(name, `must be a duration like 90s, 30m, 12h or 7d, got "${raw}"`);
  return n;
}

const SIZE_UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `500M`, `10G`, `1.5T` (powers of 1024, an optional B or iB), or plain bytes. */
function byteSize(env: Env, name: string): number | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(raw);
  const n = m ? Math.floor(Number(m[1]) * (SIZE_UNITS[(m[2] ?? "").toLowerCase()] as number)) : NaN;
  if (!m || n <= 0 || !Number.isSafeInteger(n)) throw new ConfigError(name, `must be a size like 500M or 10G, got "${raw}"`);
  return n;
}

/** `500ms`, `2s`, `1.5s` or plain seconds, in milliseconds. */
function millis(env: Env, name: string, defMs: number, minMs: number, maxMs: number): number {
  const raw = str(env, name);
  if (raw === undefined) return defMs;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s)?$/i.exec(raw);
  const ms = m ? Math.round(Number(m[1]) * (m[2]?.toLowerCase() === "ms" ? 1 : 1000)) : NaN;
  if (!m || ms < minMs || ms > maxMs) {
    throw new ConfigError(name, `must be a duration from ${minMs} ms to ${maxMs / 1000} s like 500ms or 2s, got "${raw}"`);
  }
  return ms;
}

/** Why `raw` cannot be a webhook or hook address, or undefined when it is an absolute http(s) URL. */
export function httpUrlProblem(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `"${raw}" is not a URL`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `"${raw}" must be an http:// or https:// URL`;
  return undefined;
}

function httpUrls(env: Env, name: string): string[] {
  const urls = list(env, name);
  for (const url of urls) {
    const problem = httpUrlProblem(url);
    if (problem) throw new ConfigError(name, problem);
  }
  if (new Set(urls).size !== urls.length) throw new ConfigError(name, "lists a URL twice");
  if (urls.length > MAX_WEBHOOK_RECEIVERS) throw new ConfigError(name, `at most ${MAX_WEBHOOK_RECEIVERS} receivers, got ${urls.length}`);
  return urls;
}

function authHook(env: Env): AuthHookConfig | undefined {
  const url = str(env, "AUTH_HOOK_URL");
  const settings = {
    timeoutMs: millis(env, "AUTH_HOOK_TIMEOUT", 2000, 10, 60_000),
    cacheMs: millis(env, "AUTH_HOOK_CACHE", 10_000, 0, 3_600_000),
    failOpen: bool(env, "AUTH_HOOK_FAIL_OPEN"),
  };
  if (url === undefined) return undefined;
  const problem = httpUrlProblem(url);
  if (problem) throw new ConfigError("AUTH_HOOK_URL", problem);
  return { url, ...settings };
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const IPV6 = /^[0-9a-fA-F:]+$/;

function parseRoomTokens(env: Env): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of list(env, "ROOM_TOKENS")) {
    const i = entry.indexOf(":");
    const room = i > 0 ? entry.slice(0, i) : "";
    const token = i > 0 ? entry.slice(i + 1) : "";
    if (!ROOM_NAME.test(room) || token === "") {
      throw new ConfigError("ROOM_TOKENS", `entry "${entry}" must be room:token with a valid room name`);
    }
    out.set(room, token);
  }
  return out;
}

/** `stun:host:port` or `turn:user:pass@host:port?transport=udp` (credentials move into username/credential). */
export function parseIceServer(entry: string): IceServer {
  const m = /^(stuns?|turns?):(?:([^:@]+):([^@]+)@)?([^@?]+?)(\?transport=(udp|tcp))?$/.exec(entry);
  if (!m) throw new ConfigError("ICE_SERVERS", `"${entry}" is not a stun: or turn: URL`);
  const [, scheme, username, credential, hostPort, query] = m;
  if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(hostPort ?? "")) {
    throw new ConfigError("ICE_SERVERS", `"${entry}" has a bad host:port`);
  }
  const isTurn = scheme === "turn" || scheme === "turns";
  if (isTurn && (username === undefined || credential === undefined)) {
    throw new ConfigError("ICE_SERVERS", `"${entry}" is a TURN server without user:pass@`);
  }
  const server: IceServer = { urls: [`${scheme}:${hostPort}${query ?? ""}`] };
  if (username !== undefined && credential !== undefined) {
    try {
      server.username = decodeURIComponent(username);
      server.credential = decodeURIComponent(credential);
    } catch {
      throw new ConfigError("ICE_SERVERS", `"${scheme}:${hostPort}" has a bad %-escape in user:pass (write a literal % as %25)`);
    }
  }
  return server;
}

function ladder(env: Env, name: string): Ladder {
  try {
    return parseLadder(str(env, name) ?? "");
  } catch (err) {
    if (err instanceof LadderError) throw new ConfigError(name, err.message);
    throw err;
  }
}

function encoderSetting(env: Env, name: string): EncoderSetting {
  const raw = (str(env, name) ?? "auto").toLowerCase();
  if (!ENCODER_SETTINGS.includes(raw as EncoderSetting)) {
    throw new ConfigError(name, `must be one of ${ENCODER_SETTINGS.join(", ")}, got "${raw}"`);
  }
  return raw as EncoderSetting;
}

function clusterConfig(env: Env, port: number, rtcPortRange: [number, number] | undefined, cores: number): ClusterConfig {
  const rawWorkers = str(env, "WORKERS")?.toLowerCase();
  const workers = rawWorkers === "auto" ? Math.min(MAX_WORKERS, Math.max(1, cores)) : int(env, "WORKERS", 1, 1, MAX_WORKERS);
  if (workers > 1 && rtcPortRange !== undefined && rtcPortRange[1] - rtcPortRange[0] + 1 < workers) {
    throw new ConfigError("RTC_PORT_MAX", `WORKERS=${workers} needs a media port range of at least ${workers} ports, got ${rtcPortRange[0]}..${rtcPortRange[1]}`);
  }
  if (workers > 1 && port !== 0 && port + workers > 65535) {
    throw new ConfigError("WORKERS", `the direct ports PORT+1..PORT+${workers} go past 65535 (PORT=${port})`);
  }
  let worker: ClusterConfig["worker"];
  if (str(env, "ROOMCAST_WORKER") !== undefined) {
    if (workers < 2) throw new ConfigError("ROOMCAST_WORKER", "is set by the supervisor, with WORKERS of 2 or more");
    const index = int(env, "ROOMCAST_WORKER", 0, 0, workers - 1);
    worker = { index, directPort: workerDirectPort(port, index) };
  }
  const redisUrl = str(env, "REDIS_URL");
  if (redisUrl !== undefined && !/^rediss?:\/\/[^\s/]+(\/\d*)?$/.test(redisUrl)) {
    throw new ConfigError("REDIS_URL", "must be a URL like redis://host:6379, redis://:password@host:6379/0 or rediss://host:6380");
  }
  const secret = str(env, "CLUSTER_SECRET");
  if (secret !== undefined && secret.length < 16) throw new ConfigError("CLUSTER_SECRET", "must be at least 16 characters");
  if (redisUrl !== undefined && secret === undefined) {
    throw new ConfigError("CLUSTER_SECRET", "must be set with REDIS_URL: every node of the cluster needs the same one");
  }
  let publicUrl = str(env, "PUBLIC_URL");
  if (publicUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(publicUrl);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || url.pathname !== "/" || url.search !== "" || url.hash !== "" || url.username !== "") {
      throw new ConfigError("PUBLIC_URL", `must be an http(s) URL with a host and optional port only, like https://sfu.example.com:8443, got "${publicUrl}"`);
    }
    publicUrl = url.origin;
  }
  return { workers, worker, redisUrl, secret, publicUrl };
}

/** `machine.cores` stands for the cores this process may use; tests give it. */
export function loadConfig(env: Env, machine: { cores: number } = { cores: availableParallelism() }): Config {
  const logLevel = (str(env, "LOG_LEVEL") ?? "info").toLowerCase();
  if (!LOG_LEVELS.includes(logLevel as LogLevel)) {
    throw new ConfigError("LOG_LEVEL", `must be one of ${LOG_LEVELS.join(", ")}, got "${logLevel}"`);
  }

  const host = str(env, "HOST") ?? "0.0.0.0";
  if (!IPV4.test(host) && !IPV6.test(host) && !/^[A-Za-z0-9.-]+$/.test(host)) {
    throw new ConfigError("HOST", `"${host}" is not an address or host name`);
  }

  const announcedIps = list(env, "ANNOUNCED_IPS");
  for (const ip of announcedIps) {
    // isIP, not the loose IPV6 pattern: "a:b" or "1::2::3" must not reach the SDP; zone ids mean nothing to a client.
    if (isIP(ip) === 0 || ip.includes("%")) {
      throw new ConfigError("ANNOUNCED_IPS", `"${ip}" is not an IP address`);
    }
  }

  const portMinRaw = str(env, "RTC_PORT_MIN");
  const portMaxRaw = str(env, "RTC_PORT_MAX");
  let rtcPortRange: [number, number] | undefined;
  if (portMinRaw !== undefined || portMaxRaw !== undefined) {
    if (portMinRaw === undefined) throw new ConfigError("RTC_PORT_MIN", "must be set together with RTC_PORT_MAX");
    if (portMaxRaw === undefined) throw new ConfigError("RTC_PORT_MAX", "must be set together with RTC_PORT_MIN");
    const min = int(env, "RTC_PORT_MIN", 0, 1024, 65534);
    const max = int(env, "RTC_PORT_MAX", 0, 1024, 65535);
    // Equal is a range of one: all media shares one port anyway.
    if (max < min) throw new ConfigError("RTC_PORT_MAX", `must be at least RTC_PORT_MIN (${min}), got ${max}`);
    rtcPortRange = [min, max];
  }
  const port = int(env, "PORT", 8080, 0, 65535);
  const cluster = clusterConfig(env, port, rtcPortRange, machine.cores);
  // A node of several takes its own slice of the media range: the first free port of the slice.
  if (cluster.worker && rtcPortRange) rtcPortRange = workerPortRange(rtcPortRange, cluster.worker.index, cluster.workers);

  const certFile = str(env, "TLS_CERT");
  const keyFile = str(env, "TLS_KEY");
  const selfSigned = bool(env, "TLS_SELF_SIGNED");
  let tls: Config["tls"];
  if (certFile !== undefined || keyFile !== undefined) {
    if (certFile === undefined) throw new ConfigError("TLS_CERT", "must be set together with TLS_KEY");
    if (keyFile === undefined) throw new ConfigError("TLS_KEY", "must be set together with TLS_CERT");
    if (selfSigned) throw new ConfigError("TLS_SELF_SIGNED", "cannot be combined with TLS_CERT/TLS_KEY");
    tls = { certFile, keyFile };
  } else if (selfSigned) {
    tls = { selfSigned: true };
  }

  const allowedOrigin = str(env, "ALLOWED_ORIGIN") ?? "*";
  if (allowedOrigin !== "*" && !/^https?:\/\/[^\s/]+$/.test(allowedOrigin)) {
    throw new ConfigError("ALLOWED_ORIGIN", `must be * or an origin like https://example.com, got "${allowedOrigin}"`);
  }

  return {
    port,
    host,
    cluster,
    authToken: str(env, "AUTH_TOKEN"),
    roomTokens: parseRoomTokens(env),
    jwtSecret: str(env, "JWT_SECRET"),
    adminToken: str(env, "ADMIN_TOKEN"),
    rateLimitRps: int(env, "RATE_LIMIT_RPS", 10, 0, 1_000_000),
    rateLimitBurst: int(env, "RATE_LIMIT_BURST", 20, 0, 1_000_000),
    maxViewersPerRoom: int(env, "MAX_SUBS_PER_ROOM", 500, 0, 1_000_000),
    allowedOrigin,
    iceServers: list(env, "ICE_SERVERS").map(parseIceServer),
    announcedIps,
    rtcPortRange,
    recordEnabled: bool(env, "RECORD_ENABLED"),
    recordDir: str(env, "RECORD_DIR") ?? "./recordings",
    recordMaxAgeSec: duration(env, "RECORD_MAX_AGE"),
    recordMaxBytes: byteSize(env, "RECORD_MAX_BYTES"),
    ffmpegPath: str(env, "FFMPEG_PATH"),
    transcodeLadder: ladder(env, "TRANSCODE_LADDER"),
    transcodeEncoder: encoderSetting(env, "TRANSCODE_ENCODER"),
    logLevel: logLevel as LogLevel,
    tls,
    dataDir: str(env, "DATA_DIR") ?? "./data",
    connectTimeoutSec: int(env, "CONNECT_TIMEOUT", 30, 1, 3600),
    admissionMaxCpu: ratio(env, "ADMISSION_MAX_CPU", 0.75),
    authFailDelayMs: 200,
    jitTierUpScale: int(env, "JIT_TIER_UP_SCALE", 10, 1, 1000),
    webhooks: {
      urls: httpUrls(env, "WEBHOOK_URLS"),
      secret: str(env, "WEBHOOK_SECRET"),
      timeoutMs: millis(env, "WEBHOOK_TIMEOUT", 5000, 100, 60_000),
      retries: int(env, "WEBHOOK_RETRIES", 5, 0, 20),
    },
    authHook: authHook(env),
  };
}

export function authEnabled(config: Config): boolean {
  return (
    config.authToken !== undefined ||
    config.roomTokens.size > 0 ||
    config.jwtSecret !== undefined ||
    config.adminToken !== undefined ||
    config.authHook !== undefined
  );
}

export function helpText(version: string): string {
  const lines = [
    `roomcast ${version}: a WebRTC SFU. Publish with WHIP, play with WHEP, one binary.`,
    "",
    "Usage: roomcast [--help] [--version]",
    "",
    "Configuration is read from the environment:",
  ];
  const width = Math.max(...ENV_VARS.map((v) => v.name.length));
  for (const v of ENV_VARS) {
    const def = v.def === "" ? "" : ` (default ${v.def})`;
    lines.push(`  ${v.name.padEnd(width)}  ${v.doc}${def}`);
  }
  lines.push(
    "",
    "Endpoints: POST /api/whip/publish/{room}, POST /api/whep/play/{room}, GET /api/rooms, GET /metrics, GET /healthz",
  );
  return lines.join("\n");
}

