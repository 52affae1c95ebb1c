// The OpenAPI document (GET /api/openapi.json) against the app that serves it: it validates as OpenAPI 3.1, every
// route the app answers is in it and it names no route the app does not have (Hono's app.routes against the
// document's paths and methods), and GET /docs renders it as a page that runs no script.
import "../../src/polyfills.ts";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Hono } from "hono";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Authorizer } from "../../src/auth/authorizer.ts";
import { Captures } from "../../src/captures/captures.ts";
import { registryCaptureRooms } from "../../src/captures/roomSnapshot.ts";
import { loadConfig } from "../../src/config.ts";
import { createApp } from "../../src/http/app.ts";
import { methodNotAllowed, REFUSES_METHOD } from "../../src/http/errors.ts";
import type { OpenApiDocument } from "../../src/http/openapi/document.ts";
import { Recordings } from "../../src/media/recorder/recordings.ts";
import { Metrics } from "../../src/metrics/metrics.ts";
import type { WebAssets } from "../../src/platform/ports.ts";
import { EventsHub } from "../../src/room/eventsHub.ts";
import { RoomRegistry } from "../../src/room/registry.ts";
import { WhepEventsHub } from "../../src/room/whepEvents.ts";
import type { AppEnv } from "../../src/http/types.ts";
import { Webhooks } from "../../src/webhooks/webhooks.ts";

const METHODS = ["get", "put", "post", "delete", "patch", "head", "trace"];

/** `GET /api/rooms/{room}` for each operation the app answers: not its middlewares, not its 405 refusals. */
function appOperations(app: Hono<AppEnv>): Set<string> {
  const ops = new Set<string>();
  const refuses = (h: unknown) => (h as { [REFUSES_METHOD]?: boolean })[REFUSES_METHOD] === true;
  for (const r of app.routes) {
    if (r.method === "ALL") {
      // Middlewares sit on wildcard paths; any other route for every method can only be a refusal.
      if (!r.path.includes("*") && !refuses(r.handler)) throw new Error(`ALL ${r.path} is neither a middleware nor a 405`);
      continue;
    }
    if (refuses(r.handler) || r.method === "OPTIONS") continue;
    ops.add(`${r.method} ${r.path.replace(/:([A-Za-z0-9_]+)/g, "{$1}")}`);
  }
  return ops;
}

function documentOperations(doc: OpenApiDocument): Set<string> {
  const ops = new Set<string>();
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of Object.keys(item ?? {})) if (METHODS.includes(method)) ops.add(`${method.toUpperCase()} ${path}`);
  }
  return ops;
}

/** What one side has and the other lacks. */
function compare(app: Hono<AppEnv>, doc: OpenApiDocument) {
  const answered = appOperations(app);
  const documented = documentOperations(doc);
  return { undocumented: [...answered].filter((o) => !documented.has(o)).sort(), phantom: [...documented].filter((o) => !answered.has(o)).sort() };
}

const page: WebAssets = {
  immutable: true,
  page: async () => ({ path: "/", body: new TextEncoder().encode("<!doctype html>"), contentType: "text/html", etag: "x" }),
  file: () => undefined,
};

describe("the OpenAPI document", () => {
  const cleanups: (() => unknown)[] = [];
  let app: Hono<AppEnv>;
  let doc: OpenApiDocument;

  beforeAll(async () => {
    // Every optional part present, so every route is registered.
    const config = loadConfig({ RATE_LIMIT_RPS: "0", RECORD_ENABLED: "true", RECORD_DIR: mkdtempSync(join(tmpdir(), "roomcast-openapi-")) });
    const log = pino({ level: "silent" });
    const metrics = new Metrics();
    const registry = new RoomRegistry({ config, metrics, log });
    const captures = new Captures({ dir: join(mkdtempSync(join(tmpdir(), "roomcast-openapi-")), "captures"), rooms: registryCaptureRooms(registry), log, version: "t" });
    const whepEvents = new WhepEventsHub(registry);
    const webhooks = new Webhooks({ config: config.webhooks, metrics, log, version: "t" });
    const recordings = new Recordings({ config, metrics, log }, { remux: false });
    cleanups.push(() => registry.close("done"), () => captures.close(), () => whepEvents.close(), () => webhooks.close(0));
    app = createApp({ config, registry, events: new EventsHub(registry), authorizer: new Authorizer(config), metrics, log, version: "9.8.7", web: page, captures, whepEvents, webhooks, recordings });
    const res = await app.request("/api/openapi.json");
    expect(res.status).toBe(200);
    doc = (await res.json()) as OpenApiDocument;
  });

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it("validates as OpenAPI 3.1", async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as unknown as Parameters<Validator["validate"]>[0]);
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 1)?.slice(0, 2000)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info).toMatchObject({ title: "roomcast", version: "9.8.7" });
  });

  it("has every route the app answers, and no route it does not", () => {
    const { undocumented, phantom } = compare(app, doc);
    expect(undocumented).toEqual([]);
    expect(phantom).toEqual([]);
    // This task's routes among them.
    const documented = documentOperations(doc);
    for (const op of [
      "GET /api/health",
      "GET /api/admin/sessions",
      "DELETE /api/admin/sessions/{id}",
      "POST /api/admin/captures",
      "GET /api/admin/captures/{id}",
      "POST /api/admin/captures/{id}/stop",
      "POST /api/whep/play/{room}/{session}/events",
      "GET /api/whep/play/{room}/{session}/events/{stream}",
      "GET /api/openapi.json",
      "GET /docs",
    ]) {
      expect(documented.has(op), op).toBe(true);
    }
  });

  it("the comparison catches a route missing from the document and a document path with no route", () => {
    const extra = new Hono<AppEnv>();
    extra.get("/api/only-in-the-app", (c) => c.text("x"));
    extra.on(["PUT"], "/api/only-in-the-app", methodNotAllowed("GET"));
    const fake = { ...doc, paths: { "/api/only-in-the-document": { get: { responses: {} } } } } as unknown as OpenApiDocument;
    expect(compare(extra, fake)).toEqual({ undocumented: ["GET /api/only-in-the-app"], phantom: ["GET /api/only-in-the-document"] });
    const stray = new Hono<AppEnv>();
    stray.all("/api/anything", (c) => c.text("x"));
    expect(() => compare(stray, doc)).toThrow("ALL /api/anything");
  });

  it("documents the validated inputs with the schemas that check them, and refusals as {error}", () => {
    const start = doc.paths?.["/api/admin/captures"]?.post;
    const body = (start?.requestBody as { content: Record<string, { schema: { $ref?: string } }> }).content["application/json"]?.schema;
    expect(body).toEqual({ $ref: "#/components/schemas/CaptureStart" });
    expect(doc.components?.schemas?.["CaptureStart"]).toMatchObject({ type: "object", required: ["room"] });
    const play = doc.paths?.["/api/whep/play/{room}"]?.post;
    const names = (play?.parameters as { name: string; in: string }[]).map((p) => `${p.in} ${p.name}`);
    expect(names).toEqual(expect.arrayContaining(["path room", "query layer"]));
    expect(doc.components?.schemas?.["Error"]).toMatchObject({ properties: { error: { type: "string" } } });
    expect(doc.paths?.["/api/admin/captures/{id}"]?.get?.security).toEqual([{ bearer: [] }, { authToken: [] }]);
    expect(doc.paths?.["/api/health"]?.get?.security).toEqual([]);
  });

  it("GET /docs renders every operation as a page that loads nothing and runs no script", async () => {
    const res = await app.request("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'/);
    const html = await res.text();
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/https?:\/\//);
    // The inline stylesheet is the one the policy's hash names.
    const css = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? "";
    const { createHash } = await import("node:crypto");
    expect(csp).toContain(`'sha256-${createHash("sha256").update(css).digest("base64")}'`);
    for (const op of documentOperations(doc)) {
      const [method, path] = op.split(" ") as [string, string];
      expect(html, op).toContain(`<span class="method ${method.toLowerCase()}">${method.toLowerCase()}</span><span class="path">${path.replace(/&/g, "&#38;")}</span>`);
    }
  });
});
