// How a receiver knows a webhook came from this server, as Stripe and GitHub do it:
//
//   X-Roomcast-Timestamp: 1735689600                   (Unix seconds when this attempt was sent)
//   X-Roomcast-Signature: sha256=<hex>                 hex(HMAC-SHA256(WEBHOOK_SECRET, timestamp + "." + raw body))
//
// The timestamp is inside what is signed, so a captured request cannot be replayed later with a fresh timestamp:
// a receiver recomputes the HMAC over the bytes it received, compares in constant time, and refuses timestamps
// more than a few minutes from its own clock. Each retry is signed again with its own timestamp; the body (and the
// event id in it) stays the same.
import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "X-Roomcast-Signature";
export const TIMESTAMP_HEADER = "X-Roomcast-Timestamp";
export const EVENT_HEADER = "X-Roomcast-Event";
/** What verifyWebhookSignature accepts by default between the sender's clock and the receiver's. */
export const DEFAULT_TOLERANCE_SEC = 300;

export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/** A receiver's side of the scheme: true when the signature matches and the timestamp is recent. */
export function verifyWebhookSignature(opts: {
  secret: string;
  body: string;
  signature: string | null | undefined;
  timestamp: string | null | undefined;
  nowSec?: number;
  toleranceSec?: number;
}): boolean {
  const { signature, timestamp } = opts;
  if (!signature || !timestamp || !/^\d{1,12}$/.test(timestamp)) return false;
  const now = opts.nowSec ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(timestamp)) > (opts.toleranceSec ?? DEFAULT_TOLERANCE_SEC)) return false;
  const expected = Buffer.from(webhookSignature(opts.secret, Number(timestamp), opts.body));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
