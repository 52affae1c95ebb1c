// What publisher and viewer sessions share: a secret id for the Location URL, a public id for the API, and a watch
// on the peer connection that reaps sessions whose client vanished.
import { randomBytes } from "node:crypto";
import type { RTCPeerConnection } from "werift";
import { sendCloseNotify, type CloseKind } from "../rtc/dtlsClose.ts";

export type SessionKind = "publisher" | "viewer";
export type SessionState = "connecting" | "connected" | "disconnected" | "closed";

/** The Location path segment: 192 random bits, so a session URL cannot be guessed. */
export function newSecretId(): string {
  return randomBytes(24).toString("base64url");
}

/** A short id safe to show in the API and logs; knowing it grants nothing. */
export function newPublicId(): string {
  return randomBytes(6).toString("hex");
}

export interface ConnectionWatch {
  stop(): void;
}

export interface WatchOptions {
  connectTimeoutMs: number;
  /** How long a connected session may stay "disconnected" before it is reaped. */
  disconnectGraceMs: number;
  onState(state: SessionState): void;
  onDead(reason: string): void;
}

/**
 * Reaps a session when its transport fails, closes, never connects, or stays disconnected past the grace period.
 * werift's own consent-freshness check (RFC 7675) turns a vanished client into "failed" within 30 s.
 */
export function watchConnection(pc: RTCPeerConnection, opts: WatchOptions): ConnectionWatch {
  let stopped = false;
  let disconnectTimer: ReturnType<typeof setTimeout> | undefined;
  const die = (reason: string) => {
    if (stopped) return;
    stop();
    opts.onDead(reason);
  };
  const connectTimer: ReturnType<typeof setTimeout> | undefined = setTimeout(
    () => die("did not connect in time"),
    opts.connectTimeoutMs,
  );
  let everConnected = false;
  const sub = pc.connectionStateChange.subscribe((state) => {
    if (stopped) return;
    switch (state) {
      case "connected":
        everConnected = true;
        clearTimeout(connectTimer);
        clearTimeout(disconnectTimer);
        disconnectTimer = undefined;
        opts.onState("connected");
        break;
      case "disconnected":
        opts.onState("disconnected");
        disconnectTimer ??= setTimeout(() => die("stayed disconnected"), opts.disconnectGraceMs);
        break;
      case "failed":
        die(everConnected ? "connection failed" : "connection failed before connecting");
        break;
      case "closed":
        die("connection closed");
        break;
      default:
        break;
    }
  });
  // werift leaves connectionState "connected" when the client sends a DTLS close_notify (Chromium and
  // libdatachannel do on close); the DTLS transport itself does close.
  const dtlsSubs = pc.dtlsTransports.map((t) =>
    t.onStateChange.subscribe((state) => {
      if (state === "closed") die("client closed the DTLS session");
    }),
  );
  function stop() {
    if (stopped) return;
    stopped = true;
    for (const s of dtlsSubs) s.unSubscribe();
    clearTimeout(connectTimer);
    clearTimeout(disconnectTimer);
    sub.unSubscribe();
  }
  return { stop };
}

/**
 * Tells the client with a DTLS close_notify, then closes. werift's close() can reject on half-built transports;
 * closing must never throw out of a cascade.
 */
const CLOSE_NOTIFY_FLUSH_MS = 100;

export async function closePeer(pc: RTCPeerConnection, kind: CloseKind = "closed"): Promise<void> {
  if (await sendCloseNotify(pc, kind)) {
    // Closing the socket at once can drop the alert still queued behind it.
    await new Promise((r) => setTimeout(r, CLOSE_NOTIFY_FLUSH_MS));
  }
  await pc.close().catch(() => undefined);
}
