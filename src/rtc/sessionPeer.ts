// The peer side every WHIP/WHEP session shares: negotiation of the client's offer, the ETag that names the
// current ICE session, trickled candidates and ICE restarts from PATCH, and a close that tells the client.
import { randomBytes } from "node:crypto";
import type { RTCPeerConnection } from "werift";
import type { Config } from "../config.ts";
import { closePeer, type CloseKind } from "./dtlsClose.ts";
import { rewriteCandidates, waitGatheringComplete } from "./peer.ts";
import { buildSdpFrag, withIceCredentials, type SdpFrag } from "./sdpfrag.ts";
import type { UdpMux } from "./udpMux.ts";
import { registerIceCredentials, useMux } from "./weriftMux.ts";

export class NegotiationError extends Error {
  override name = "NegotiationError";
}

function newEtag(): string {
  return `"${randomBytes(9).toString("base64url")}"`;
}

export class SessionPeer {
  readonly pc: RTCPeerConnection;
  /** Changes on every ICE restart; PATCH with another If-Match gets 412. */
  etag = newEtag();
  #remoteSdp = "";
  /** The client's ICE ufrags: one per media section when its offer bundles nothing (GStreamer's default). */
  #remoteUfrags = new Set<string>();
  readonly #config: Config;
  readonly #mux: UdpMux | undefined;

  /** `mux`: where werift's transports for this peer come from (the server's media socket); else werift's own. */
  constructor(pc: RTCPeerConnection, config: Config, mux?: UdpMux) {
    this.pc = pc;
    this.#config = config;
    this.#mux = mux;
  }

  /** setRemoteDescription → (hook) → createAnswer → gather; the answer carries every server candidate. */
  async negotiate(offerSdp: string, beforeAnswer?: (pc: RTCPeerConnection) => void): Promise<string> {
    const pc = this.pc;
    try {
      await useMux(this.#mux, async () => {
        await pc.setRemoteDescription({ type: "offer", sdp: offerSdp });
        beforeAnswer?.(pc);
        await pc.setLocalDescription(await pc.createAnswer());
        await waitGatheringComplete(pc);
      });
    } catch (err) {
      throw new NegotiationError(String(err));
    }
    // Before the client has the answer, so its first check already finds this peer on the shared socket.
    registerIceCredentials(pc);
    const sdp = pc.localDescription?.sdp;
    if (!sdp) throw new NegotiationError("werift produced no answer");
    this.#remoteSdp = offerSdp;
    this.#remoteUfrags = new Set([...offerSdp.matchAll(/a=ice-ufrag:(\S+)/g)].map((m) => m[1] as string));
    return rewriteCandidates(sdp, this.#config.announcedIps);
  }

  /** Whether a PATCH's ufrag is one of the current ICE sessions' (a trickle) rather than new (a restart). */
  isRemoteUfrag(ufrag: string): boolean {
    return this.#remoteUfrags.has(ufrag);
  }

  /** Trickled candidates from the client (RFC 9725 §4.3.1). */
  async addCandidates(frag: SdpFrag): Promise<void> {
    for (const c of frag.candidates) {
      await this.pc.addIceCandidate({ candidate: c.candidate, sdpMid: c.mid, sdpMLineIndex: c.mLineIndex }).catch(() => undefined);
    }
  }

  /**
   * ICE restart (RFC 9725 §4.3.2): the client's offer is re-applied with its new credentials, werift restarts ICE
   * and gathers anew; DTLS and media continue over the new pair. Returns the sdpfrag answer.
   */
  async restartIce(frag: SdpFrag): Promise<string> {
    if (frag.ufrag === undefined || frag.pwd === undefined) throw new NegotiationError("ICE restart needs ice-ufrag and ice-pwd");
    const offer = withIceCredentials(this.#remoteSdp, frag.ufrag, frag.pwd);
    const pc = this.pc;
    try {
      await useMux(this.#mux, async () => {
        await pc.setRemoteDescription({ type: "offer", sdp: offer });
        await pc.setLocalDescription(await pc.createAnswer());
        await waitGatheringComplete(pc);
      });
    } catch (err) {
      throw new NegotiationError(String(err));
    }
    this.#remoteSdp = offer;
    this.#remoteUfrags = new Set([frag.ufrag]);
    registerIceCredentials(pc);
    await this.addCandidates(frag);
    // werift's connect() skips transports whose DTLS is still connected, so a restarted ICE agent would answer
    // checks but never nominate a pair to send on: start it here, once it has the client's new candidates.
    // (Its state reads "completed" here: that is the new gathering, not a connection.)
    for (const t of pc.iceTransports) {
      if (t.state !== "closed") t.start().catch(() => undefined);
    }
    this.etag = newEtag();
    const sdp = pc.localDescription?.sdp ?? "";
    return buildSdpFrag(rewriteCandidates(sdp, this.#config.announcedIps));
  }

  close(kind: CloseKind = "closed"): Promise<void> {
    return closePeer(this.pc, kind);
  }
}
