// GET/POST /api/admin/webhooks, DELETE /api/admin/webhooks/{id}, POST /api/admin/webhooks/{id}/test: the webhook
// receivers, behind ADMIN_TOKEN like every admin route.
import type { Hono } from "hono";
import { methodNotAllowed, notFound } from "../errors.ts";
import { webhookOps } from "../openapi/operations.ts";
import { WebhookRegistration } from "../openapi/schemas.ts";
import { body } from "../validate.ts";
import type { Webhooks } from "../../webhooks/webhooks.ts";
import type { AuthGuard } from "../middleware/auth.ts";
import type { AppDeps, AppEnv } from "../types.ts";

const BASE = "/api/admin/webhooks";

export function webhookRoutes(app: Hono<AppEnv>, webhooks: Webhooks, guard: AuthGuard, deps: AppDeps): void {
  app.get(BASE, ...webhookOps.list, async (c) => {
    await guard.admin(c);
    return c.json(webhooks.list());
  });

  app.post(BASE, ...webhookOps.add, async (c) => {
    await guard.admin(c);
    const { url, events } = await body(c, WebhookRegistration);
    const receiver = webhooks.add(url, events ? [...new Set(events)] : undefined);
    c.header("Location", `${BASE}/${receiver.id}`);
    return c.json(receiver, 201);
  });

  app.delete(`${BASE}/:id`, ...webhookOps.remove, async (c) => {
    await guard.admin(c);
    const id = c.req.param("id");
    const receiver = webhooks.get(id);
    if (!receiver || !webhooks.remove(id)) throw notFound("webhook receiver not found");
    // An env receiver comes back at the next start: WEBHOOK_URLS is read again then.
    return c.json({ deleted: id, source: receiver.source, ...(receiver.source === "env" ? { untilRestart: true } : {}) }, 200);
  });

  app.post(`${BASE}/:id/test`, ...webhookOps.test, async (c) => {
    await guard.admin(c);
    const result = await webhooks.test(c.req.param("id"));
    if (!result) throw notFound("webhook receiver not found");
    deps.log.info({ receiver: c.req.param("id"), ok: result.ok, status: result.status }, "webhook test sent");
    return c.json(result, 200);
  });

  app.all(BASE, methodNotAllowed("GET, POST"));
  app.all(`${BASE}/:id`, methodNotAllowed("DELETE"));
  app.all(`${BASE}/:id/test`, methodNotAllowed("POST"));
}
