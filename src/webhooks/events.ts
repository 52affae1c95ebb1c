// The events roomcast tells webhook receivers about, and the JSON envelope each one travels in.
import { randomBytes } from "node:crypto";

export const WEBHOOK_EVENT_TYPES = [
  "room.opened",
  "room.closed",
  "publisher.joined",
  "publisher.left",
  "viewer.joined",
  "viewer.left",
  "recording.finished",
  "transcode.failed",
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
/** `test` is only ever sent by POST /api/admin/webhooks/{id}/test, to that receiver. */
export type AnyWebhookEventType = WebhookEventType | "test";

/** What each event's `data` holds. Sessions are named by their public id: it grants nothing. */
export interface WebhookEventData {
  "room.opened": { room: string };
  "room.closed": { room: string };
  "publisher.joined": { room: string; session: string };
  "publisher.left": { room: string; session: string };
  "viewer.joined": { room: string; session: string; viewers: number };
  "viewer.left": { room: string; session: string; viewers: number };
  "recording.finished": {
    room: string;
    file: string;
    size: number;
    /** The track's kind, or "session" for the remuxed mkv of all tracks. */
    kind: "audio" | "video" | "session";
    /** From the media's own timestamps; absent when the file holds no media. */
    durationSec?: number;
    /** Error code when the file stopped early (it is still valid up to there). */
    error?: string;
  };
  "transcode.failed": { room: string; reason: string };
  test: { message: string };
}

export interface WebhookEvent<T extends AnyWebhookEventType = AnyWebhookEventType> {
  /** Unique per event; a retried delivery carries the same id, so receivers can drop duplicates. */
  id: string;
  type: T;
  /** When it happened (ISO 8601, UTC), not when it was delivered. */
  time: string;
  /** The node it happened on, when the server runs as part of a cluster. */
  node?: string;
  data: WebhookEventData[T];
}

export function isWebhookEventType(name: unknown): name is WebhookEventType {
  return typeof name === "string" && (WEBHOOK_EVENT_TYPES as readonly string[]).includes(name);
}

export function newWebhookEvent<T extends AnyWebhookEventType>(type: T, data: WebhookEventData[T], node?: string, now = Date.now()): WebhookEvent<T> {
  const event: WebhookEvent<T> = { id: `evt_${randomBytes(12).toString("base64url")}`, type, time: new Date(now).toISOString(), data };
  if (node !== undefined) event.node = node;
  return event;
}
