// The web routes with an in-memory asset source (the binary's embedded files are tried end to end in
// test/e2e/web.test.ts): pages at /, /play/{room}, /publish/{room}; bundled files with caching; the API untouched.
import "../../src/polyfills.ts";
import { gunzipSync } from "node:zlib";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { Authorizer } from "../../src/auth/authorizer.ts";
import { loadConfig } from "../../src/config.ts";
import { createApp } from "../../src/http/app.ts";
import type { WebAssets, WebFile } from "../../src/platform/ports.ts";
import { Metrics } from "../../src/metrics/metrics.ts";
import { EventsHub } from "../../src/room/eventsHub.ts";
import { RoomRegistry } from "../../src/room/registry.ts";

const registries: RoomRegistry[] = [];
afterEach(() => {
  for (const r of registries.splice(0)) r.close("test done");
});

const enc = new TextEncoder();
const PAGE: WebFile = {
  path: "/index.html",
  body: enc.encode('<!doctype html><title>roomcast</title><script src="/chunk-abc.js"></script>'),
  contentType: "text/html;charset=utf-8",
  etag: "page1",
};
const SCRIPT: WebFile = {
  path: "/chunk-abc.js",
  body: enc.encode(`console.log(${JSON.stringify("x".repeat(4000))});`),
  contentType: "text/javascript;charset=utf-8",
  etag: "js1",
};

function app(immutable = true) {
  const config = loadConfig({ RATE_LIMIT_RPS: "0" });
  const log = pino({ level: "silent" });
  const metrics = new Metrics();
  const registry = new RoomRegistry({ config, metrics, log });
  registries.push(registry);
  const web: WebAssets = { immutable, page: async () => PAGE, file: (p) => (p === SCRIPT.path ? SCRIPT : undefined) };
  return createApp({ config, registry, events: new EventsHub(registry), authorizer: new Authorizer(config), metrics, log, version: "0.0.0-test", web });
}

describe("web routes", () => {
  it("serves the page at /, /play/{room} and /publish/{room}, with a same-origin-only CSP and no referrer", async () => {
    const a = app();
    for (const path of ["/", "/play/lobby", "/publish/studio"]) {
      const res = await a.request(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/html/);
      expect(res.headers.get("cache-control")).toBe("no-cache");
      expect(res.headers.get("content-security-policy")).toMatch(/default-src 'self'/);
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
      expect(await res.text()).toContain("<title>roomcast</title>");
    }
  });

  it("serves bundled files for good when their names carry hashes, answers 304 to a matching ETag, gzips on request", async () => {
    const a = app();
    const res = await a.request("/chunk-abc.js");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(res.headers.get("etag")).toBe('"js1"');
    expect(await res.text()).toBe(new TextDecoder().decode(SCRIPT.body));

    const again = await a.request("/chunk-abc.js", { headers: { "If-None-Match": '"js1"' } });
    expect(again.status).toBe(304);

    const gz = await a.request("/chunk-abc.js", { headers: { "Accept-Encoding": "gzip, br" } });
    expect(gz.headers.get("content-encoding")).toBe("gzip");
    const zipped = new Uint8Array(await gz.arrayBuffer());
    expect(zipped.byteLength).toBeLessThan(SCRIPT.body.byteLength);
    expect(new Uint8Array(gunzipSync(zipped))).toEqual(SCRIPT.body);

    expect((await app(false).request("/chunk-abc.js")).headers.get("cache-control")).toBe("no-cache");
  });

  it("leaves the API and other paths alone: unknown paths are JSON 404s", async () => {
    const a = app();
    expect(await (await a.request("/healthz")).text()).toBe("ok");
    expect((await a.request("/api/rooms")).status).toBe(200);
    for (const path of ["/api/nope", "/nope.js", "/play", "/play/a/b", "/api"]) {
      const res = await a.request(path);
      expect(res.status, path).toBe(404);
      expect(await res.json()).toEqual({ error: "not found" });
    }
  });
});
