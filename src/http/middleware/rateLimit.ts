import type { MiddlewareHandler } from "hono";
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import { tooManyRequests } from "../errors.ts";
import type { Metrics } from "../../metrics/metrics.ts";
import type { AppEnv } from "../types.ts";

export interface RateLimitOptions {
  rps: number;
  burst: number;
  metrics: Metrics;
}

/**
 * Per client IP: `rps` requests each second, plus `burst` more that refill over burst/rps seconds.
 * rps = 0 turns the limit off. Refusals are 429 with Retry-After in whole seconds.
 */
export function rateLimit(opts: RateLimitOptions): MiddlewareHandler<AppEnv> {
  if (!Number.isInteger(opts.rps) || opts.rps < 0) throw new Error("rateLimit: rps must be a whole number >= 0");
  if (!Number.isInteger(opts.burst) || opts.burst < 0) throw new Error("rateLimit: burst must be a whole number >= 0");
  if (opts.rps === 0) return async function rateLimitOff(_c, next) { await next(); };
  const steady = new RateLimiterMemory({ keyPrefix: "rps", points: opts.rps, duration: 1 });
  const burstWindow = Math.max(1, Math.ceil(opts.burst / opts.rps));
  const limiter =
    opts.burst > 0
      ? new BurstyRateLimiter(steady, new RateLimiterMemory({ keyPrefix: "burst", points: opts.burst, duration: burstWindow }))
      : steady;
  return async function rateLimitByIp(c, next) {
    const key = c.env?.ip ?? "unknown";
    try {
      await limiter.consume(key);
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      opts.metrics.rateLimited.inc();
      throw tooManyRequests(Math.max(1, Math.ceil(res.msBeforeNext / 1000)));
    }
    await next();
  };
}
