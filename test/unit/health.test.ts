// GET /api/health: its exact shape, public whatever tokens are set, and nothing in it an outsider should not see.
import "../../src/polyfills.ts";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { Authorizer } from "../../src/auth/authorizer.ts";
import { loadConfig } from "../../src/config.ts";
import { createApp } from "../../src/http/app.ts";
import { healthOf } from "../../src/http/routes/public.ts";
import { Metrics } from "../../src/metrics/metrics.ts";
import type { Room } from "../../src/room/room.ts";
import { EventsHub } from "../../src/room/eventsHub.ts";
import { RoomRegistry } from "../../src/room/registry.ts";

const registries: RoomRegistry[] = [];
afterEach(() => {
  for (const r of registries.splice(0)) r.close("test done");
});

const SECRETS = { AUTH_TOKEN: "global-secret", ADMIN_TOKEN: "admin-secret", JWT_SECRET: "jwt-secret-jwt-secret-jwt-secret!", RECORD_DIR: "/srv/private-recordings", FFMPEG_PATH: "/opt/secret/ffmpeg" };

describe("GET /api/health", () => {
  it("answers the status, uptime, rooms, viewers and version to anyone, with nothing secret", async () => {
    const config = loadConfig({ RATE_LIMIT_RPS: "0", RECORD_ENABLED: "true", ...SECRETS });
    const log = pino({ level: "silent" });
    const metrics = new Metrics();
    const registry = new RoomRegistry({ config, metrics, log });
    registries.push(registry);
    const app = createApp({ config, registry, events: new EventsHub(registry), authorizer: new Authorizer(config), metrics, log, version: "1.2.3-test" });
    const res = await app.request("/api/health");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ status: "ok", uptime: 0, rooms: 0, viewers: 0, version: "1.2.3-test" });
    for (const secret of Object.values(SECRETS)) expect(text).not.toContain(secret);
    // The plain probe is unchanged.
    expect(await (await app.request("/healthz")).text()).toBe("ok");
  });

  it("counts open rooms and their viewers, and whole seconds of uptime", () => {
    const room = (viewers: number, closed = false) => ({ closed, viewers: new Map(Array.from({ length: viewers }, (_, i) => [String(i), {}])) }) as unknown as Room;
    const registry = { rooms: () => [room(2), room(3), room(5, true)] };
    expect(healthOf(registry, 1_000, 62_999, "v")).toEqual({ status: "ok", uptime: 61, rooms: 2, viewers: 5, version: "v" });
    expect(healthOf({ rooms: () => [] }, 5_000, 4_000, "v").uptime).toBe(0);
  });
});
