// GET /, /play/{room}, /publish/{room}, /captures, /captures/{id}: the web app's page; GET /{file}: its bundled
// scripts and styles. The files come from a WebAssets source (src/platform/webAssets.ts embeds them in the binary);
// this file only serves them.
import { gzipSync } from "node:zlib";
import type { Context, Hono } from "hono";
import type { WebAssets, WebFile } from "../../platform/ports.ts";
import { webOps } from "../openapi/operations.ts";
import type { AppEnv } from "../types.ts";

/**
 * Everything the app loads is same-origin: no external fonts, scripts or calls. Media are MediaStreams (blob:) and
 * recordings from /records. Framing stays allowed so a player can be embedded in another site.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
].join("; ");

/** Below this, gzip costs more than it saves. */
const GZIP_MIN_BYTES = 1024;

export function webRoutes(app: Hono<AppEnv>, assets: WebAssets): void {
  const gzipped = new WeakMap<WebFile, Uint8Array>();

  function send(c: Context<AppEnv>, file: WebFile, cacheControl: string): Response {
    const etag = `"${file.etag}"`;
    const headers: Record<string, string> = {
      "Content-Type": file.contentType,
      "Cache-Control": cacheControl,
      ETag: etag,
      "X-Content-Type-Options": "nosniff",
      Vary: "Accept-Encoding",
    };
    if (c.req.header("if-none-match") === etag) return c.body(null, 304, headers);
    let body = file.body;
    if (body.byteLength >= GZIP_MIN_BYTES && /\bgzip\b/.test(c.req.header("accept-encoding") ?? "")) {
      let gz = gzipped.get(file);
      if (!gz) {
        gz = new Uint8Array(gzipSync(file.body));
        gzipped.set(file, gz);
      }
      body = gz;
      headers["Content-Encoding"] = "gzip";
    }
    return c.body(body as Uint8Array<ArrayBuffer>, 200, headers);
  }

  const page = async (c: Context<AppEnv>) => {
    const file = await assets.page();
    const res = send(c, file, "no-cache");
    res.headers.set("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    // Pages may carry ?token=: never hand it to another site in a Referer.
    res.headers.set("Referrer-Policy", "no-referrer");
    return res;
  };
  app.get("/", ...webOps.home, page);
  app.get("/play/:room", ...webOps.play, page);
  app.get("/publish/:room", ...webOps.publish, page);
  // The admin's captures pages; their data needs ADMIN_TOKEN, the page itself is the same app for anyone.
  app.get("/captures", ...webOps.captures, page);
  app.get("/captures/:id", ...webOps.capture, page);

  // Registered after every API route, so it only sees paths nothing else answered.
  app.get("/:file", ...webOps.file, (c) => {
    const file = assets.file(c.req.path);
    if (!file) return c.notFound();
    return send(c, file, assets.immutable ? "public, max-age=31536000, immutable" : "no-cache");
  });
}
