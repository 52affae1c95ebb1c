// GET/POST /api/admin/webhooks, DELETE /api/admin/webhooks/{id}, POST /api/admin/webhooks/{id}/test: the webhook
// receivers, behind ADMIN_TOKEN like every admin route.
import type { Context, Hono } from "hono";
import { httpUrlProblem } from "../../config.ts";
import { badRequest, HttpError, notFound, payloadTooLarge } from "../errors.ts";
import { isWebhookEventType, WEBHOOK_EVENT_TYPES, type WebhookEventType } from "../../webhooks/events.ts";
import type { Webhooks } from "../../webhooks/webhooks.ts";
import type { AuthGuard } from "../middleware/auth.ts";
import type { AppDeps, AppEnv } from "../types.ts";

const BASE = "/api/admin/webhooks";
/** A URL and a list of event names: anything bigger is not a registration. */
const MAX_BODY_BYTES = 16 * 1024;
const MAX_URL_LENGTH = 2048;

/** The validated body of a POST: `{url, events?}`. */
export function parseRegistration(body: unknown): { url: string; events: WebhookEventType[] | undefined } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest('body must be a JSON object like {"url": "https://..."}');
  const { url, events } = body as Record<string, unknown>;
  if (typeof url !== "string" || url === "") throw badRequest('"url" must be a string');
  if (url.length > MAX_URL_LENGTH) throw badRequest(`"url" is longer than ${MAX_URL_LENGTH} characters`);
  const problem = httpUrlProblem(url);
  if (problem) throw badRequest(`"url": ${problem}`);
  if (events === undefined || events === null) return { url, events: undefined };
  if (!Array.isArray(events) || events.length === 0) throw badRequest(`"events" must be a non-empty list of: ${WEBHOOK_EVENT_TYPES.join(", ")}`);
  const unknown = events.filter((e) => !isWebhookEventType(e));
  if (unknown.length > 0) {
    throw badRequest(`unknown event ${unknown.map((e) => JSON.stringify(e)).join(", ")}: events are ${WEBHOOK_EVENT_TYPES.join(", ")}`);
  }
  return { url, events: [...new Set(events as WebhookEventType[])] };
}

async function readJson(c: Context): Promise<unknown> {
  if (Number(c.req.header("content-length") ?? "0") > MAX_BODY_BYTES) throw payloadTooLarge();
  const text = await c.req.text();
  if (text.length > MAX_BODY_BYTES) throw payloadTooLarge();
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('body must be JSON like {"url": "https://...", "events": ["room.opened"]}');
  }
}

export function webhookRoutes(app: Hono<AppEnv>, webhooks: Webhooks, guard: AuthGuard, deps: AppDeps): void {
  app.get(BASE, async (c) => {
    await guard.admin(c);
    return c.json(webhooks.list());
  });

  app.post(BASE, async (c) => {
    await guard.admin(c);
    const { url, events } = parseRegistration(await readJson(c));
    const receiver = webhooks.add(url, events);
    c.header("Location", `${BASE}/${receiver.id}`);
    return c.json(receiver, 201);
  });

  app.delete(`${BASE}/:id`, async (c) => {
    await guard.admin(c);
    const id = c.req.param("id");
    const receiver = webhooks.get(id);
    if (!receiver || !webhooks.remove(id)) throw notFound("webhook receiver not found");
    // An env receiver comes back at the next start: WEBHOOK_URLS is read again then.
    return c.json({ deleted: id, source: receiver.source, ...(receiver.source === "env" ? { untilRestart: true } : {}) }, 200);
  });

  app.post(`${BASE}/:id/test`, async (c) => {
    await guard.admin(c);
    const result = await webhooks.test(c.req.param("id"));
    if (!result) throw notFound("webhook receiver not found");
    deps.log.info({ receiver: c.req.param("id"), ok: result.ok, status: result.status }, "webhook test sent");
    return c.json(result, 200);
  });

  for (const path of [BASE, `${BASE}/:id`, `${BASE}/:id/test`]) {
    app.all(path, () => {
      throw new HttpError(405, "method not allowed");
    });
  }
}
