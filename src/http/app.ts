// The HTTP contract (docs/api.md), built on Hono. Errors map to JSON here and only here (with http/errors.ts).
import { Hono } from "hono";
import { cors } from "hono/cors";
import { httpErrorOf } from "./errors.ts";
import { authGuard } from "./middleware/auth.ts";
import { clusterAwareGuard } from "./middleware/clusterAuth.ts";
import { rateLimit } from "./middleware/rateLimit.ts";
import { eventRoutes } from "./routes/events.ts";
import { publicRoutes } from "./routes/public.ts";
import { recordRoutes } from "./routes/records.ts";
import { roomRoutes } from "./routes/rooms.ts";
import { sessionRoutes, whipOptionsHeaders, WHEP, WHIP } from "./routes/sessions.ts";
import { webRoutes } from "./routes/web.ts";
import { webhookRoutes } from "./routes/webhooks.ts";
import { adminSessionRoutes } from "./routes/adminSessions.ts";
import { captureRoutes } from "./routes/captures.ts";
import { whepEventRoutes } from "./routes/whepEvents.ts";
import { openApiRoutes } from "./openapi/document.ts";
import type { AppDeps, AppEnv } from "./types.ts";

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const guard = clusterAwareGuard(authGuard(deps.authorizer, deps.metrics, deps.config.authFailDelayMs, deps.authHook), deps.cluster?.tokens);

  const cluster = deps.cluster;
  if (cluster) {
    // In a cluster every answer names the node that gave it: behind the shared port, which one did is otherwise unknown.
    app.use("*", async function nodeHeader(c, next) {
      await next();
      const id = cluster.shownId;
      if (id === undefined) return;
      try {
        c.res.headers.set("X-Roomcast-Node", id);
      } catch {
        // An answer with immutable headers goes out as it is.
      }
    });
  }
  app.use("/api/whip/*", whipOptionsHeaders(deps.config));
  app.use("/api/whep/*", whipOptionsHeaders(deps.config));
  app.use(
    "*",
    cors({
      origin: deps.config.allowedOrigin,
      allowMethods: ["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
      allowHeaders: ["Content-Type", "Authorization", "X-Auth-Token", "If-Match"],
      exposeHeaders: ["Location", "ETag", "Link", "Accept-Patch", "Accept-Post", "Retry-After", "X-Next-Cursor", "X-Error-Detail", "X-Roomcast-Cluster", "X-Roomcast-Node"],
      maxAge: 600,
    }),
  );

  const limiter = rateLimit({ rps: deps.config.rateLimitRps, burst: deps.config.rateLimitBurst, metrics: deps.metrics });
  for (const path of ["/api/whip/*", "/api/whep/*", "/api/admin/*"]) app.use(path, limiter);

  publicRoutes(app, deps);
  sessionRoutes(app, deps, guard, WHIP);
  sessionRoutes(app, deps, guard, WHEP);
  if (deps.whepEvents) whepEventRoutes(app, deps, deps.whepEvents, guard);
  roomRoutes(app, deps, guard);
  eventRoutes(app, deps, guard);
  recordRoutes(app, deps, guard);
  if (deps.webhooks) webhookRoutes(app, deps.webhooks, guard, deps);
  adminSessionRoutes(app, deps, guard);
  if (deps.captures) captureRoutes(app, deps.captures, guard);
  openApiRoutes(app, deps.version);
  // Last: its catch-all for bundled files must not shadow any API path.
  if (deps.web) webRoutes(app, deps.web);

  app.notFound((c) => c.json({ error: "not found" }, 404));

  app.onError((err, c) => {
    const known = httpErrorOf(err);
    if (known) {
      for (const [k, v] of Object.entries(known.headers)) c.header(k, v);
      // Hono types the status as a union of literals; ours come from the one table in errors.ts.
      return c.json({ error: known.message }, known.status as 400);
    }
    deps.log.error({ err, path: c.req.path }, "request failed");
    return c.json({ error: "internal server error" }, 500);
  });

  return app;
}
