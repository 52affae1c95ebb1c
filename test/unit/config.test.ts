import { describe, expect, it } from "vitest";
import { authEnabled, ConfigError, ENV_VARS, helpText, loadConfig, parseIceServer, type Env } from "../../src/config.ts";

/** Runs loadConfig and returns the ConfigError it throws (fails the test if it throws anything else or nothing). */
function configError(env: Env): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig(${JSON.stringify(env)}) did not throw`);
}

const ALL_VARIABLES = [
  "PORT",
  "HOST",
  "WORKERS",
  "PUBLIC_URL",
  "REDIS_URL",
  "CLUSTER_SECRET",
  "ROOMCAST_WORKER",
  "AUTH_TOKEN",
  "ROOM_TOKENS",
  "JWT_SECRET",
  "ADMIN_TOKEN",
  "RATE_LIMIT_RPS",
  "RATE_LIMIT_BURST",
  "MAX_SUBS_PER_ROOM",
  "ALLOWED_ORIGIN",
  "ICE_SERVERS",
  "ANNOUNCED_IPS",
  "RTC_PORT_MIN",
  "RTC_PORT_MAX",
  "RECORD_ENABLED",
  "RECORD_DIR",
  "RECORD_MAX_AGE",
  "RECORD_MAX_BYTES",
  "FFMPEG_PATH",
  "TRANSCODE_LADDER",
  "TRANSCODE_ENCODER",
  "LOG_LEVEL",
  "TLS_CERT",
  "TLS_KEY",
  "TLS_SELF_SIGNED",
  "DATA_DIR",
  "ADMISSION_MAX_CPU",
  "JIT_TIER_UP_SCALE",
  "CONNECT_TIMEOUT",
  "WEBHOOK_URLS",
  "WEBHOOK_SECRET",
  "WEBHOOK_TIMEOUT",
  "WEBHOOK_RETRIES",
  "AUTH_HOOK_URL",
  "AUTH_HOOK_TIMEOUT",
  "AUTH_HOOK_CACHE",
  "AUTH_HOOK_FAIL_OPEN",
];

describe("loadConfig defaults", () => {
  it("gives the documented defaults for an empty environment", () => {
    const c = loadConfig({});
    expect(c.port).toBe(8080);
    expect(c.host).toBe("0.0.0.0");
    expect(c.authToken).toBeUndefined();
    expect(c.roomTokens.size).toBe(0);
    expect(c.jwtSecret).toBeUndefined();
    expect(c.adminToken).toBeUndefined();
    expect(c.rateLimitRps).toBe(10);
    expect(c.rateLimitBurst).toBe(20);
    expect(c.maxViewersPerRoom).toBe(500);
    expect(c.allowedOrigin).toBe("*");
    expect(c.iceServers).toEqual([]);
    expect(c.announcedIps).toEqual([]);
    expect(c.rtcPortRange).toBeUndefined();
    expect(c.recordEnabled).toBe(false);
    expect(c.recordDir).toBe("./recordings");
    expect(c.logLevel).toBe("info");
    expect(c.tls).toBeUndefined();
    expect(c.dataDir).toBe("./data");
    expect(c.connectTimeoutSec).toBe(30);
    expect(c.jitTierUpScale).toBe(10);
    expect(c.authFailDelayMs).toBe(200);
    expect(authEnabled(c)).toBe(false);
  });

  it("treats empty and blank values as unset", () => {
    const c = loadConfig({ PORT: "", AUTH_TOKEN: "   ", LOG_LEVEL: "", RTC_PORT_MIN: " ", RTC_PORT_MAX: "" });
    expect(c.port).toBe(8080);
    expect(c.authToken).toBeUndefined();
    expect(c.logLevel).toBe("info");
    expect(c.rtcPortRange).toBeUndefined();
  });
});

describe("loadConfig parses every variable", () => {
  it("reads a full environment", () => {
    const c = loadConfig({
      PORT: " 9443 ",
      HOST: "127.0.0.1",
      AUTH_TOKEN: "global-secret",
      ROOM_TOKENS: "demo:tok1, stage_2:tok:with:colons",
      JWT_SECRET: "jwt-secret",
      ADMIN_TOKEN: "admin-secret",
      RATE_LIMIT_RPS: "5",
      RATE_LIMIT_BURST: "0",
      MAX_SUBS_PER_ROOM: "0",
      ALLOWED_ORIGIN: "https://app.example.com",
      ICE_SERVERS: "stun:stun.l.google.com:19302, turn:alice:s3cr%40t@turn.example.com:3478?transport=udp",
      ANNOUNCED_IPS: "203.0.113.7, 2001:db8::1",
      RTC_PORT_MIN: "40000",
      RTC_PORT_MAX: "40100",
      RECORD_ENABLED: "YES",
      RECORD_DIR: "/var/rec",
      LOG_LEVEL: "DEBUG",
      TLS_CERT: "/etc/cert.pem",
      TLS_KEY: "/etc/key.pem",
      TLS_SELF_SIGNED: "false",
      DATA_DIR: "/var/lib/roomcast",
      CONNECT_TIMEOUT: "12",
      JIT_TIER_UP_SCALE: "1",
    });
    expect(c.port).toBe(9443);
    expect(c.host).toBe("127.0.0.1");
    expect(c.authToken).toBe("global-secret");
    expect([...c.roomTokens]).toEqual([
      ["demo", "tok1"],
      ["stage_2", "tok:with:colons"],
    ]);
    expect(c.jwtSecret).toBe("jwt-secret");
    expect(c.adminToken).toBe("admin-secret");
    expect(c.rateLimitRps).toBe(5);
    expect(c.rateLimitBurst).toBe(0);
    expect(c.maxViewersPerRoom).toBe(0);
    expect(c.allowedOrigin).toBe("https://app.example.com");
    expect(c.iceServers).toEqual([
      { urls: ["stun:stun.l.google.com:19302"] },
      { urls: ["turn:turn.example.com:3478?transport=udp"], username: "alice", credential: "s3cr@t" },
    ]);
    expect(c.announcedIps).toEqual(["203.0.113.7", "2001:db8::1"]);
    expect(loadConfig({ ANNOUNCED_IPS: "::1,10.0.0.1,::ffff:192.0.2.1" }).announcedIps).toEqual(["::1", "10.0.0.1", "::ffff:192.0.2.1"]);
    expect(c.rtcPortRange).toEqual([40000, 40100]);
    // One port is a range too: all media shares one socket.
    expect(loadConfig({ RTC_PORT_MIN: "40000", RTC_PORT_MAX: "40000" }).rtcPortRange).toEqual([40000, 40000]);
    expect(c.recordEnabled).toBe(true);
    expect(c.recordDir).toBe("/var/rec");
    expect(c.logLevel).toBe("debug");
    expect(c.tls).toEqual({ certFile: "/etc/cert.pem", keyFile: "/etc/key.pem" });
    expect(c.dataDir).toBe("/var/lib/roomcast");
    expect(c.connectTimeoutSec).toBe(12);
    expect(c.jitTierUpScale).toBe(1);
    expect(authEnabled(c)).toBe(true);
  });

  it("accepts every spelling of true and false", () => {
    for (const v of ["1", "true", "TRUE", "yes", "on"]) expect(loadConfig({ RECORD_ENABLED: v }).recordEnabled).toBe(true);
    for (const v of ["0", "false", "No", "off"]) expect(loadConfig({ RECORD_ENABLED: v }).recordEnabled).toBe(false);
  });

  it("accepts every log level", () => {
    for (const level of ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const) {
      expect(loadConfig({ LOG_LEVEL: level }).logLevel).toBe(level);
    }
  });

  it("turns on self-signed TLS alone", () => {
    expect(loadConfig({ TLS_SELF_SIGNED: "1" }).tls).toEqual({ selfSigned: true });
  });

  it("counts any one auth variable as auth enabled", () => {
    expect(authEnabled(loadConfig({ AUTH_TOKEN: "a" }))).toBe(true);
    expect(authEnabled(loadConfig({ ROOM_TOKENS: "demo:t" }))).toBe(true);
    expect(authEnabled(loadConfig({ JWT_SECRET: "s" }))).toBe(true);
    expect(authEnabled(loadConfig({ ADMIN_TOKEN: "a" }))).toBe(true);
  });

  it("parses ICE server entries", () => {
    expect(parseIceServer("stuns:stun.example.com:5349")).toEqual({ urls: ["stuns:stun.example.com:5349"] });
    expect(parseIceServer("turns:u:p@[2001:db8::2]:5349?transport=tcp")).toEqual({
      urls: ["turns:[2001:db8::2]:5349?transport=tcp"],
      username: "u",
      credential: "p",
    });
    expect(parseIceServer("turn:u:pa:ss@turn.example.com")).toEqual({
      urls: ["turn:turn.example.com"],
      username: "u",
      credential: "pa:ss",
    });
  });

  it("reads only the variables ENV_VARS documents", () => {
    const read = new Set<string>();
    const env = new Proxy({} as Record<string, string | undefined>, {
      get(_t, key) {
        if (typeof key === "string") read.add(key);
        return undefined;
      },
    });
    loadConfig(env);
    // RTC_PORT_MAX and TLS_KEY are read even when their partners are unset, so every documented variable is read.
    expect([...read].sort()).toEqual(ENV_VARS.map((v) => v.name).sort());
    expect(ENV_VARS.map((v) => v.name).sort()).toEqual([...ALL_VARIABLES].sort());
  });
});

describe("webhook and auth hook settings", () => {
  it("has the documented defaults: no receivers, 5 s timeout, 5 retries, no hook", () => {
    const c = loadConfig({});
    expect(c.webhooks).toEqual({ urls: [], secret: undefined, timeoutMs: 5000, retries: 5 });
    expect(c.authHook).toBeUndefined();
  });

  it("reads WEBHOOK_* and AUTH_HOOK_*; durations in ms, s or plain seconds", () => {
    const c = loadConfig({
      WEBHOOK_URLS: " https://cms.example.com/hooks/roomcast , http://127.0.0.1:9000/in ",
      WEBHOOK_SECRET: "whsec",
      WEBHOOK_TIMEOUT: "1500ms",
      WEBHOOK_RETRIES: "0",
      AUTH_HOOK_URL: "https://accounts.example.com/roomcast/auth?k=v",
      AUTH_HOOK_TIMEOUT: "0.5s",
      AUTH_HOOK_CACHE: "0",
      AUTH_HOOK_FAIL_OPEN: "true",
    });
    expect(c.webhooks).toEqual({ urls: ["https://cms.example.com/hooks/roomcast", "http://127.0.0.1:9000/in"], secret: "whsec", timeoutMs: 1500, retries: 0 });
    expect(c.authHook).toEqual({ url: "https://accounts.example.com/roomcast/auth?k=v", timeoutMs: 500, cacheMs: 0, failOpen: true });
    const d = loadConfig({ AUTH_HOOK_URL: "http://hook.local/" }).authHook;
    expect(d).toEqual({ url: "http://hook.local/", timeoutMs: 2000, cacheMs: 10_000, failOpen: false });
    expect(loadConfig({ AUTH_HOOK_URL: "http://hook.local/", AUTH_HOOK_TIMEOUT: "3" }).authHook?.timeoutMs).toBe(3000);
  });

  it("an auth hook alone turns auth on (rooms are no longer open to anyone)", () => {
    expect(authEnabled(loadConfig({ AUTH_HOOK_URL: "http://hook.local/" }))).toBe(true);
    expect(authEnabled(loadConfig({ WEBHOOK_URLS: "http://hook.local/" }))).toBe(false);
  });

  it("a bad hook setting is refused even when AUTH_HOOK_URL is unset, so a typo shows at once", () => {
    expect(configError({ AUTH_HOOK_TIMEOUT: "soon" }).variable).toBe("AUTH_HOOK_TIMEOUT");
  });
});

describe("transcoding settings", () => {
  it("off by default with the auto encoder", () => {
    const c = loadConfig({});
    expect(c.transcodeLadder).toEqual([]);
    expect(c.transcodeEncoder).toBe("auto");
  });

  it("TRANSCODE_LADDER parses into rungs, tallest first; TRANSCODE_ENCODER in any case", () => {
    const c = loadConfig({ TRANSCODE_LADDER: "240p:400k,720p:2500k,480p:1200k", TRANSCODE_ENCODER: "X264" });
    expect(c.transcodeLadder.map((r) => `${r.name}@${r.bitrateKbps}`)).toEqual(["720p@2500", "480p@1200", "240p@400"]);
    expect(c.transcodeEncoder).toBe("x264");
    expect(loadConfig({ TRANSCODE_ENCODER: "nvenc" }).transcodeEncoder).toBe("nvenc");
    expect(loadConfig({ TRANSCODE_LADDER: "off" }).transcodeLadder).toEqual([]);
  });

  it("a bad ladder's message names the entry", () => {
    expect(() => loadConfig({ TRANSCODE_LADDER: "720p:2500k,480p:lots" })).toThrow('TRANSCODE_LADDER: "480p:lots": bitrate must look like 800k or 2.5M');
  });
});

describe("loadConfig rejects bad values with a ConfigError naming the variable", () => {
  const cases: [string, Env, string][] = [
    ["PORT=abc", { PORT: "abc" }, "PORT"],
    ["PORT=70000", { PORT: "70000" }, "PORT"],
    ["PORT=-1", { PORT: "-1" }, "PORT"],
    ["PORT=80.5", { PORT: "80.5" }, "PORT"],
    ["HOST with a space", { HOST: "bad host" }, "HOST"],
    ["RATE_LIMIT_RPS=fast", { RATE_LIMIT_RPS: "fast" }, "RATE_LIMIT_RPS"],
    ["RATE_LIMIT_BURST=-5", { RATE_LIMIT_BURST: "-5" }, "RATE_LIMIT_BURST"],
    ["MAX_SUBS_PER_ROOM=lots", { MAX_SUBS_PER_ROOM: "lots" }, "MAX_SUBS_PER_ROOM"],
    ["CONNECT_TIMEOUT=0", { CONNECT_TIMEOUT: "0" }, "CONNECT_TIMEOUT"],
    ["JIT_TIER_UP_SCALE=0 (1 is JavaScriptCore's own policy; below it is meaningless)", { JIT_TIER_UP_SCALE: "0" }, "JIT_TIER_UP_SCALE"],
    ["JIT_TIER_UP_SCALE=2.5", { JIT_TIER_UP_SCALE: "2.5" }, "JIT_TIER_UP_SCALE"],
    ["JIT_TIER_UP_SCALE=5000", { JIT_TIER_UP_SCALE: "5000" }, "JIT_TIER_UP_SCALE"],
    ["RTC_PORT_MIN without RTC_PORT_MAX", { RTC_PORT_MIN: "40000" }, "RTC_PORT_MAX"],
    ["RTC_PORT_MAX without RTC_PORT_MIN", { RTC_PORT_MAX: "40000" }, "RTC_PORT_MIN"],
    ["RTC_PORT_MAX < RTC_PORT_MIN", { RTC_PORT_MIN: "40100", RTC_PORT_MAX: "40000" }, "RTC_PORT_MAX"],
    ["RTC_PORT_MIN below 1024", { RTC_PORT_MIN: "80", RTC_PORT_MAX: "40000" }, "RTC_PORT_MIN"],
    ["RTC_PORT_MAX not a number", { RTC_PORT_MIN: "40000", RTC_PORT_MAX: "lots" }, "RTC_PORT_MAX"],
    ["RECORD_ENABLED=maybe", { RECORD_ENABLED: "maybe" }, "RECORD_ENABLED"],
    ["TLS_SELF_SIGNED=sure", { TLS_SELF_SIGNED: "sure" }, "TLS_SELF_SIGNED"],
    ["LOG_LEVEL=loud", { LOG_LEVEL: "loud" }, "LOG_LEVEL"],
    ["TRANSCODE_LADDER without a p", { TRANSCODE_LADDER: "720:2500k" }, "TRANSCODE_LADDER"],
    ["TRANSCODE_LADDER bitrate without a unit", { TRANSCODE_LADDER: "720p:2500" }, "TRANSCODE_LADDER"],
    ["TRANSCODE_LADDER a rung twice", { TRANSCODE_LADDER: "360p:800k,360p:500k" }, "TRANSCODE_LADDER"],
    ["TRANSCODE_ENCODER=gpu", { TRANSCODE_ENCODER: "gpu" }, "TRANSCODE_ENCODER"],
    ["WEBHOOK_URLS not a URL", { WEBHOOK_URLS: "https://ok.example/hook,not a url" }, "WEBHOOK_URLS"],
    ["WEBHOOK_URLS with another scheme", { WEBHOOK_URLS: "ftp://files.example/hook" }, "WEBHOOK_URLS"],
    ["WEBHOOK_URLS a URL twice", { WEBHOOK_URLS: "https://a.example/h,https://a.example/h" }, "WEBHOOK_URLS"],
    ["WEBHOOK_URLS over 16 receivers", { WEBHOOK_URLS: Array.from({ length: 17 }, (_, i) => `https://h${i}.example/`).join(",") }, "WEBHOOK_URLS"],
    ["WEBHOOK_TIMEOUT=fast", { WEBHOOK_TIMEOUT: "fast" }, "WEBHOOK_TIMEOUT"],
    ["WEBHOOK_TIMEOUT=10ms (below 100 ms)", { WEBHOOK_TIMEOUT: "10ms" }, "WEBHOOK_TIMEOUT"],
    ["WEBHOOK_TIMEOUT=2m (no minutes: over 60 s anyway)", { WEBHOOK_TIMEOUT: "2m" }, "WEBHOOK_TIMEOUT"],
    ["WEBHOOK_RETRIES=-1", { WEBHOOK_RETRIES: "-1" }, "WEBHOOK_RETRIES"],
    ["WEBHOOK_RETRIES=50", { WEBHOOK_RETRIES: "50" }, "WEBHOOK_RETRIES"],
    ["AUTH_HOOK_URL not a URL", { AUTH_HOOK_URL: "auth.example/hook" }, "AUTH_HOOK_URL"],
    ["AUTH_HOOK_URL with another scheme", { AUTH_HOOK_URL: "file:///etc/passwd" }, "AUTH_HOOK_URL"],
    ["AUTH_HOOK_TIMEOUT=0", { AUTH_HOOK_TIMEOUT: "0" }, "AUTH_HOOK_TIMEOUT"],
    ["AUTH_HOOK_TIMEOUT=-2s", { AUTH_HOOK_TIMEOUT: "-2s" }, "AUTH_HOOK_TIMEOUT"],
    ["AUTH_HOOK_CACHE=2h (over an hour)", { AUTH_HOOK_CACHE: "7200" }, "AUTH_HOOK_CACHE"],
    ["AUTH_HOOK_CACHE=soon", { AUTH_HOOK_CACHE: "soon" }, "AUTH_HOOK_CACHE"],
    ["AUTH_HOOK_FAIL_OPEN=perhaps", { AUTH_HOOK_FAIL_OPEN: "perhaps" }, "AUTH_HOOK_FAIL_OPEN"],
    ["ROOM_TOKENS without a colon", { ROOM_TOKENS: "demo" }, "ROOM_TOKENS"],
    ["ROOM_TOKENS without a room", { ROOM_TOKENS: ":token" }, "ROOM_TOKENS"],
    ["ROOM_TOKENS without a token", { ROOM_TOKENS: "demo:" }, "ROOM_TOKENS"],
    ["ROOM_TOKENS with a bad room name", { ROOM_TOKENS: "ok:t1,bad room:t2" }, "ROOM_TOKENS"],
    ["ICE_SERVERS not stun/turn", { ICE_SERVERS: "http://stun.example.com" }, "ICE_SERVERS"],
    ["ICE_SERVERS bad second entry", { ICE_SERVERS: "stun:ok.example.com:3478,stun:bad host" }, "ICE_SERVERS"],
    ["ICE_SERVERS bad port", { ICE_SERVERS: "stun:stun.example.com:123456" }, "ICE_SERVERS"],
    ["ICE_SERVERS bad transport", { ICE_SERVERS: "turn:u:p@turn.example.com:3478?transport=sctp" }, "ICE_SERVERS"],
    ["ICE_SERVERS TURN without credentials", { ICE_SERVERS: "turn:turn.example.com:3478" }, "ICE_SERVERS"],
    ["ICE_SERVERS TURNS without credentials", { ICE_SERVERS: "turns:turn.example.com:5349" }, "ICE_SERVERS"],
    ["ICE_SERVERS credentials with a bad % escape", { ICE_SERVERS: "turn:u:100%pass@turn.example.com:3478" }, "ICE_SERVERS"],
    ["ANNOUNCED_IPS host name", { ANNOUNCED_IPS: "example.com" }, "ANNOUNCED_IPS"],
    ["ANNOUNCED_IPS octet too large", { ANNOUNCED_IPS: "1.2.3.4,256.1.1.1" }, "ANNOUNCED_IPS"],
    ["ANNOUNCED_IPS too few octets", { ANNOUNCED_IPS: "10.0.0" }, "ANNOUNCED_IPS"],
    ["ANNOUNCED_IPS hex words that are not IPv6", { ANNOUNCED_IPS: "cafe:babe" }, "ANNOUNCED_IPS"],
    ["ANNOUNCED_IPS IPv6 with two ::", { ANNOUNCED_IPS: "2001::db8::1" }, "ANNOUNCED_IPS"],
    ["ANNOUNCED_IPS IPv6 with a zone id", { ANNOUNCED_IPS: "fe80::1%eth0" }, "ANNOUNCED_IPS"],
    ["TLS_CERT without TLS_KEY", { TLS_CERT: "/etc/cert.pem" }, "TLS_KEY"],
    ["TLS_KEY without TLS_CERT", { TLS_KEY: "/etc/key.pem" }, "TLS_CERT"],
    ["TLS files with TLS_SELF_SIGNED", { TLS_CERT: "c", TLS_KEY: "k", TLS_SELF_SIGNED: "1" }, "TLS_SELF_SIGNED"],
    ["ALLOWED_ORIGIN without a scheme", { ALLOWED_ORIGIN: "example.com" }, "ALLOWED_ORIGIN"],
    ["ALLOWED_ORIGIN with a path", { ALLOWED_ORIGIN: "https://example.com/app" }, "ALLOWED_ORIGIN"],
    ["ALLOWED_ORIGIN a list", { ALLOWED_ORIGIN: "https://a.example, https://b.example" }, "ALLOWED_ORIGIN"],
  ];

  it.each(cases)("%s", (_label, env, variable) => {
    const err = configError(env);
    expect(err.variable).toBe(variable);
    expect(err.message.startsWith(`${variable}: `)).toBe(true);
    expect(err.name).toBe("ConfigError");
  });

  it("names the partner variable when one of a pair is missing", () => {
    expect(configError({ RTC_PORT_MIN: "40000" }).message).toContain("RTC_PORT_MIN");
    expect(configError({ TLS_CERT: "/etc/cert.pem" }).message).toContain("TLS_CERT");
  });

  it("does not echo a TURN password it cannot decode", () => {
    const err = configError({ ICE_SERVERS: "turn:u:100%pass@turn.example.com:3478" });
    expect(err.message).toContain("turn:turn.example.com:3478");
    expect(err.message).not.toContain("100%pass");
  });

  it("quotes the bad value", () => {
    expect(configError({ PORT: "abc" }).message).toContain('"abc"');
    expect(configError({ PORT: "70000" }).message).toContain("70000");
    expect(configError({ LOG_LEVEL: "loud" }).message).toContain('"loud"');
    expect(configError({ ANNOUNCED_IPS: "example.com" }).message).toContain('"example.com"');
    expect(configError({ ICE_SERVERS: "turn:turn.example.com:3478" }).message).toContain("without user:pass@");
  });
});

describe("cluster configuration", () => {
  const SECRET = "0123456789abcdef";

  it("is one node with no cluster by default", () => {
    expect(loadConfig({}).cluster).toEqual({ workers: 1, worker: undefined, redisUrl: undefined, secret: undefined, publicUrl: undefined });
  });

  it("reads WORKERS as a count, or auto as one per core", () => {
    expect(loadConfig({ WORKERS: "4" }).cluster.workers).toBe(4);
    expect(loadConfig({ WORKERS: "auto" }, { cores: 6 }).cluster.workers).toBe(6);
    expect(loadConfig({ WORKERS: "AUTO" }, { cores: 1 }).cluster.workers).toBe(1);
    expect(loadConfig({ WORKERS: "auto" }, { cores: 1000 }).cluster.workers).toBe(256);
    for (const bad of ["0", "-1", "two", "1.5", "257"]) expect(configError({ WORKERS: bad }).variable).toBe("WORKERS");
  });

  it("needs a media port range of at least WORKERS ports when a range is set", () => {
    expect(configError({ WORKERS: "4", RTC_PORT_MIN: "40000", RTC_PORT_MAX: "40002" }).message).toMatch(/RTC_PORT_MAX: WORKERS=4 needs a media port range of at least 4 ports, got 40000..40002/);
    expect(loadConfig({ WORKERS: "4", RTC_PORT_MIN: "40000", RTC_PORT_MAX: "40003" }).rtcPortRange).toEqual([40000, 40003]);
    expect(loadConfig({ WORKERS: "4" }).rtcPortRange).toBeUndefined();
  });

  it("refuses direct ports past 65535", () => {
    expect(configError({ WORKERS: "8", PORT: "65530" }).variable).toBe("WORKERS");
    expect(loadConfig({ WORKERS: "8", PORT: "0" }).cluster.workers).toBe(8);
  });

  it("gives a supervised node its index, its direct port and its slice of the media range", () => {
    const env = { WORKERS: "3", PORT: "8080", RTC_PORT_MIN: "40000", RTC_PORT_MAX: "40009" };
    const slices = [0, 1, 2].map((i) => loadConfig({ ...env, ROOMCAST_WORKER: String(i) }));
    expect(slices.map((c) => c.cluster.worker)).toEqual([
      { index: 0, directPort: 8081 },
      { index: 1, directPort: 8082 },
      { index: 2, directPort: 8083 },
    ]);
    expect(slices.map((c) => c.rtcPortRange)).toEqual([
      [40000, 40002],
      [40003, 40005],
      [40006, 40009],
    ]);
    // PORT stays the shared port every node answers on.
    expect(slices.every((c) => c.port === 8080)).toBe(true);
    expect(loadConfig({ WORKERS: "2", PORT: "0", ROOMCAST_WORKER: "1" }).cluster.worker).toEqual({ index: 1, directPort: 0 });
    expect(configError({ WORKERS: "2", ROOMCAST_WORKER: "2" }).variable).toBe("ROOMCAST_WORKER");
    expect(configError({ ROOMCAST_WORKER: "0" }).message).toMatch(/WORKERS of 2 or more/);
  });

  it("takes redis:// and rediss:// URLs, and needs CLUSTER_SECRET with one", () => {
    for (const url of ["redis://127.0.0.1:6379", "redis://:pw@redis.internal:6379/2", "rediss://redis.example.com:6380", "redis://[::1]:6379"]) {
      expect(loadConfig({ REDIS_URL: url, CLUSTER_SECRET: SECRET }).cluster.redisUrl).toBe(url);
    }
    for (const bad of ["http://redis:6379", "127.0.0.1:6379", "redis://", "redis://host:6379/db/x", "redis:// host"]) {
      expect(configError({ REDIS_URL: bad, CLUSTER_SECRET: SECRET }).variable).toBe("REDIS_URL");
    }
    expect(configError({ REDIS_URL: "redis://127.0.0.1:6379" }).message).toMatch(/CLUSTER_SECRET: must be set with REDIS_URL/);
  });

  it("needs a CLUSTER_SECRET of 16 characters or more, and none with WORKERS alone", () => {
    expect(configError({ CLUSTER_SECRET: "short" }).variable).toBe("CLUSTER_SECRET");
    expect(loadConfig({ CLUSTER_SECRET: SECRET }).cluster.secret).toBe(SECRET);
    expect(loadConfig({ WORKERS: "2" }).cluster.secret).toBeUndefined();
  });

  it("takes a PUBLIC_URL of scheme, host and port only", () => {
    expect(loadConfig({ PUBLIC_URL: "https://sfu-3.example.com:8443" }).cluster.publicUrl).toBe("https://sfu-3.example.com:8443");
    expect(loadConfig({ PUBLIC_URL: "http://10.0.0.5:8080/" }).cluster.publicUrl).toBe("http://10.0.0.5:8080");
    expect(loadConfig({ PUBLIC_URL: "HTTPS://SFU.example.com:443" }).cluster.publicUrl).toBe("https://sfu.example.com");
    for (const bad of ["sfu.example.com", "ftp://sfu.example.com", "https://sfu.example.com/app", "https://sfu.example.com?x=1", "https://user@sfu.example.com", "https://"]) {
      expect(configError({ PUBLIC_URL: bad }).variable).toBe("PUBLIC_URL");
    }
  });
});

describe("helpText", () => {
  it("lists every variable with its default", () => {
    const text = helpText("1.2.3");
    expect(text).toContain("roomcast 1.2.3");
    for (const name of ALL_VARIABLES) expect(text).toMatch(new RegExp(`^  ${name} +\\S`, "m"));
    expect(text).toMatch(/^ {2}PORT +HTTP\(S\) port \(default 8080\)$/m);
    expect(text).toMatch(/^ {2}RATE_LIMIT_RPS .*\(default 10\)$/m);
    expect(text).toMatch(/^ {2}LOG_LEVEL .*\(default info\)$/m);
    // Variables without a default say none.
    expect(text).not.toMatch(/^ {2}AUTH_TOKEN .*\(default/m);
  });

  it("lists the variables in ENV_VARS order", () => {
    const text = helpText("x");
    const positions = ALL_VARIABLES.map((name) => text.search(new RegExp(`^  ${name} `, "m")));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });
});
