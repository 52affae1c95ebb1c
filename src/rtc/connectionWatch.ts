// The watch on a peer connection that reaps sessions whose client vanished: it turns werift's connection and DTLS
// states into the few a session acts on.
import type { RTCPeerConnection } from "werift";

/** A session's transport as its owner sees it. */
export type PeerState = "connecting" | "connected" | "disconnected" | "closed";

export interface ConnectionWatch {
  stop(): void;
}

export interface WatchOptions {
  connectTimeoutMs: number;
  /** How long a connected session may stay "disconnected" before it is reaped. */
  disconnectGraceMs: number;
  onState(state: PeerState): void;
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
