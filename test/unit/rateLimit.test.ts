import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { HttpError } from "../../src/http/errors.ts";
import { rateLimit, type RateLimitOptions } from "../../src/http/middleware/rateLimit.ts";
import type { AppEnv } from "../../src/http/types.ts";
import { Metrics } from "../../src/metrics/metrics.ts";

/** The middleware alone, with the same error mapping as the real app. */
function tinyApp(opts: Omit<RateLimitOptions, "metrics">, metrics = new Metrics()) {
  const app = new Hono<AppEnv>();
  app.use("*", rateLimit({ ...opts, metrics }));
  app.get("/", (c) => c.text("ok"));
  app.onError((err, c) => {
    if (err instanceof HttpError) {
      for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
      return c.json({ error: err.message }, err.status as 429);
    }
    throw err;
  });
  return { app, metrics, get: (ip?: string) => app.request("/", {}, ip === undefined ? undefined : { ip }) };
}

describe("rateLimit", () => {
  it("with rps=2 burst=0 refuses the 3rd request in the same second with 429 and Retry-After", async () => {
    const { get, metrics } = tinyApp({ rps: 2, burst: 0 });
    expect((await get("192.0.2.1")).status).toBe(200);
    expect((await get("192.0.2.1")).status).toBe(200);
    const third = await get("192.0.2.1");
    expect(third.status).toBe(429);
    expect(await third.json()).toEqual({ error: "too many requests" });
    const retryAfter = Number(third.headers.get("Retry-After"));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(1);
    expect((await metrics.rateLimited.get()).values[0]?.value).toBe(1);
  });

  it("allows burst requests above the steady rate", async () => {
    const { get } = tinyApp({ rps: 1, burst: 2 });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await get("192.0.2.2")).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it("never limits with rps=0", async () => {
    const { get, metrics } = tinyApp({ rps: 0, burst: 0 });
    const statuses = await Promise.all(Array.from({ length: 50 }, () => get("192.0.2.3")));
    expect(statuses.every((r) => r.status === 200)).toBe(true);
    expect((await metrics.rateLimited.get()).values[0]?.value ?? 0).toBe(0);
  });

  it("counts each client IP separately", async () => {
    const { get } = tinyApp({ rps: 1, burst: 0 });
    expect((await get("192.0.2.10")).status).toBe(200);
    expect((await get("192.0.2.10")).status).toBe(429);
    expect((await get("192.0.2.11")).status).toBe(200);
    expect((await get("2001:db8::11")).status).toBe(200);
    expect((await get("192.0.2.11")).status).toBe(429);
  });

  it("puts requests without a known IP in one shared bucket", async () => {
    const { get } = tinyApp({ rps: 1, burst: 0 });
    expect((await get()).status).toBe(200);
    expect((await get()).status).toBe(429);
    expect((await get("192.0.2.20")).status).toBe(200);
  });

  it("rejects nonsense options", () => {
    const metrics = new Metrics();
    expect(() => rateLimit({ rps: -1, burst: 0, metrics })).toThrow(/rps/);
    expect(() => rateLimit({ rps: 1.5, burst: 0, metrics })).toThrow(/rps/);
    expect(() => rateLimit({ rps: 1, burst: -2, metrics })).toThrow(/burst/);
  });
});
