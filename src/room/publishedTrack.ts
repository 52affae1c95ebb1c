// One track a publisher sends (one m-line): its codec, and its layers: a single stream, or one per simulcast rid.
import type { MediaStreamTrack, RTCRtpReceiver, RtpPacket } from "werift";
import { InvalidStateError } from "../errors.ts";
import type { CodecInfo } from "../rtc/codecs.ts";
import { keyframeCodec } from "../rtc/keyframe.ts";
import type { MediaKind } from "../rtc/sdp.ts";
import { TrackLayer, type RtpTap, type SenderReport, type TrackCounters, type TrackHooks } from "./trackLayer.ts";

export { PLI_THROTTLE_MS, type RtpTap, type SenderReport, type TrackCounters, type TrackHooks } from "./trackLayer.ts";

export class PublishedTrack {
  readonly kind: MediaKind;
  readonly index: number;
  readonly mid: string | undefined;
  readonly codec: CodecInfo;
  /**
   * In the publisher's order (a=simulcast / a=rid order); one unnamed layer without simulcast. Transcoded
   * renditions are added after them.
   */
  readonly layers: TrackLayer[];
  #closed = false;

  constructor(kind: MediaKind, index: number, mid: string | undefined, codec: CodecInfo, hooks: TrackHooks, rids: readonly string[] = []) {
    this.kind = kind;
    this.index = index;
    this.mid = mid;
    this.codec = codec;
    const kc = kind === "video" ? keyframeCodec(codec.mimeType) : undefined;
    this.layers = rids.length === 0 ? [new TrackLayer(undefined, kc, hooks)] : rids.map((rid) => new TrackLayer(rid, kc, hooks));
  }

  get simulcast(): boolean {
    return this.sourceLayers.length > 1 || this.layers[0]?.rid !== undefined;
  }

  /** The layers the publisher sends (renditions left out): what the track's counters and bitrate describe. */
  get sourceLayers(): TrackLayer[] {
    return this.layers.filter((l) => !l.rendition);
  }

  /** Adds a layer made from this track (a transcoded rendition); its name must be new. */
  addLayer(layer: TrackLayer): void {
    if (this.#closed) throw new InvalidStateError("track is closed");
    if (this.layer(layer.name)) throw new InvalidStateError(`track already has a layer "${layer.name}"`);
    this.layers.push(layer);
  }

  layer(name: string): TrackLayer | undefined {
    return this.layers.find((l) => l.name === name);
  }

  /**
   * The layer a viewer gets by default: the publisher's layer carrying the most bits now, else the first offered.
   * Never a rendition: the source is the best picture there is.
   */
  defaultLayer(): TrackLayer {
    let best = this.layers[0] as TrackLayer;
    for (const l of this.sourceLayers) if (l.bitrate > best.bitrate) best = l;
    return best;
  }

  /** Connects a werift track to the layer of its rid. */
  bind(track: MediaStreamTrack, receiver: RTCRtpReceiver): void {
    if (this.#closed) return;
    const layer = track.rid === undefined ? this.layers[0] : (this.layer(track.rid) ?? this.layers[0]);
    layer?.bind(track, receiver);
  }

  /** Feeds the first layer directly (tests and non-werift sources). */
  forward(rtp: RtpPacket): void {
    this.layers[0]?.forward(rtp);
  }

  /** Taps the first-offered layer (recorders want one stream per track). */
  addTap(tap: RtpTap): () => void {
    return (this.layers[0] as TrackLayer).addTap(tap);
  }

  get counters(): TrackCounters {
    const total = { packets: 0, bytes: 0, lost: 0 };
    for (const l of this.sourceLayers) {
      total.packets += l.counters.packets;
      total.bytes += l.counters.bytes;
      total.lost += l.counters.lost;
    }
    return total;
  }

  get bitrate(): number {
    return this.sourceLayers.reduce((s, l) => s + l.bitrate, 0);
  }

  get lastPacketAt(): number {
    return this.sourceLayers.reduce((m, l) => Math.max(m, l.lastPacketAt), 0);
  }

  get ssrc(): number | undefined {
    return this.layers[0]?.ssrc;
  }

  /** The tapped layer's last RTCP sender report. */
  get senderReport(): SenderReport | undefined {
    return this.layers[0]?.senderReport;
  }

  get viewerCount(): number {
    return this.layers.reduce((s, l) => s + l.viewerCount, 0);
  }

  /** A keyframe on every layer (publisher just connected). */
  requestKeyframe(): boolean {
    let sent = false;
    for (const l of this.layers) sent = l.requestKeyframe() || sent;
    return sent;
  }

  tick(elapsedMs: number): void {
    for (const l of this.layers) l.tick(elapsedMs);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const l of this.layers) l.close();
  }
}
