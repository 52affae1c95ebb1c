// One track a publisher sends (one m-line): its codec, its layers (a single stream, or one per simulcast rid, and
// transcoded renditions), and its viewers: the one map of which viewer is on which layer, with at most one pending
// switch each. A switch completes at the target layer's next keyframe, so a decoder never sees a broken frame.
import type { MediaStreamTrack, RTCRtpReceiver, RtpPacket } from "werift";
import { InvalidStateError } from "./errors.ts";
import type { RenditionOutput, TranscodeSource } from "../media/transcode/source.ts";
import type { CodecInfo } from "../rtc/codecs.ts";
import { keyframeCodec, type KeyframeCodec } from "../media/codec/keyframe.ts";
import type { MediaKind } from "../rtc/sdp.ts";
import { TrackLayer, type LayerSink, type RtpTap, type SenderReport, type TrackCounters, type TrackHooks } from "./trackLayer.ts";

/** A frame at 30 fps in the 90 kHz clock: the timestamp step across a layer switch. */
const SWITCH_TIMESTAMP_STEP = 3000;

interface ViewerPlace {
  /** The layer the viewer's stream is a sink of. */
  layer: TrackLayer;
  /** The layer it moves to at that layer's next keyframe; never `layer`. */
  next: TrackLayer | undefined;
  onSwitched: ((layer: TrackLayer) => void) | undefined;
}

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
  readonly #viewers = new Map<LayerSink, ViewerPlace>();
  readonly #switchAt = (layer: TrackLayer, header: RtpPacket["header"]) => this.#completeSwitches(layer, header);
  readonly #keyframes: KeyframeCodec | undefined;
  #closed = false;

  constructor(kind: MediaKind, index: number, mid: string | undefined, codec: CodecInfo, hooks: TrackHooks, rids: readonly string[] = []) {
    this.kind = kind;
    this.index = index;
    this.mid = mid;
    this.codec = codec;
    const kc = kind === "video" ? keyframeCodec(codec.mimeType) : undefined;
    this.#keyframes = kc;
    this.layers = rids.length === 0 ? [new TrackLayer(undefined, kc, hooks)] : rids.map((rid) => new TrackLayer(rid, kc, hooks));
  }

  /**
   * This track as a transcoder's source: it reads the first layer, and each rendition becomes a layer of this
   * track, after the publisher's own. `hooks` count the renditions' packets.
   */
  transcodeSource(hooks: TrackHooks): TranscodeSource {
    const track = this;
    const source = this.layers[0] as TrackLayer;
    return {
      codec: this.codec,
      get simulcast() {
        return track.simulcast;
      },
      addTap: (tap) => source.addTap(tap),
      requestKeyframe: () => source.requestKeyframe(),
      addRendition(name: string): RenditionOutput {
        const layer = new TrackLayer(undefined, track.#keyframes, hooks, {
          name,
          rendition: true,
          // ffmpeg cannot take a PLI. Every rendition has a keyframe each second, and the layer's GOP cache gives
          // a new viewer the current one at once, so a request is simply not needed.
          requestKeyframe: () => false,
        });
        track.addLayer(layer);
        return {
          forward: (rtp) => layer.forward(rtp),
          get bitrate() {
            return layer.bitrate;
          },
          get viewers() {
            return track.viewersOn(layer);
          },
          close: () => layer.close(),
        };
      },
    };
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
    const total = { packets: 0, bytes: 0, lost: 0, frames: 0 };
    for (const l of this.sourceLayers) {
      total.packets += l.counters.packets;
      total.bytes += l.counters.bytes;
      total.lost += l.counters.lost;
      // Simulcast layers carry the same frames: the track has as many as its fullest layer.
      total.frames = Math.max(total.frames, l.counters.frames);
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
    return this.#viewers.size;
  }

  /** Viewers on `layer` now (a pending switch counts where the viewer still is). */
  viewersOn(layer: TrackLayer): number {
    let n = 0;
    for (const place of this.#viewers.values()) if (place.layer === layer) n++;
    return n;
  }

  /** The layer the viewer is on now, or undefined when it is not this track's viewer. */
  layerOf(stream: LayerSink): TrackLayer | undefined {
    return this.#viewers.get(stream)?.layer;
  }

  /** Where the viewer is headed: its pending switch's layer, else the one it is on. */
  targetOf(stream: LayerSink): TrackLayer | undefined {
    const place = this.#viewers.get(stream);
    return place?.next ?? place?.layer;
  }

  /**
   * The viewer starts on `layer`, with the cached GOP first. A viewer already here keeps its layer and its pending
   * switch (a viewer whose transport came back).
   */
  addViewer(stream: LayerSink, layer: TrackLayer): void {
    if (this.#closed || this.#viewers.has(stream)) return;
    this.#viewers.set(stream, { layer, next: undefined, onSwitched: undefined });
    layer.addSink(stream);
  }

  /**
   * Moves the viewer to `target` at its next keyframe (asked for now). A later call replaces a pending switch, and
   * one back to the current layer cancels it: the viewer is on exactly one layer whatever the order of calls and
   * keyframes.
   */
  switchViewer(stream: LayerSink, target: TrackLayer, onSwitched?: (layer: TrackLayer) => void): void {
    const place = this.#viewers.get(stream);
    if (this.#closed || !place) return;
    const before = place.next;
    place.next = target === place.layer ? undefined : target;
    place.onSwitched = place.next === undefined ? undefined : onSwitched;
    if (before !== undefined && before !== place.next) this.#listenForSwitches(before);
    if (place.next !== undefined) this.#listenForSwitches(place.next);
  }

  removeViewer(stream: LayerSink): void {
    const place = this.#viewers.get(stream);
    if (!place) return;
    this.#viewers.delete(stream);
    place.layer.removeSink(stream);
    if (place.next !== undefined) this.#listenForSwitches(place.next);
  }

  /** A layer hears its next keyframe while some viewer waits to switch to it, and only then. */
  #listenForSwitches(layer: TrackLayer): void {
    let waiting = false;
    for (const place of this.#viewers.values()) {
      if (place.next === layer) {
        waiting = true;
        break;
      }
    }
    layer.onNextKeyframe(waiting ? this.#switchAt : undefined);
  }

  /** `layer` has a keyframe: every viewer waiting for it leaves its layer and continues here from this packet. */
  #completeSwitches(layer: TrackLayer, header: RtpPacket["header"]): void {
    for (const [stream, place] of this.#viewers) {
      if (place.next !== layer) continue;
      place.layer.removeSink(stream);
      place.layer = layer;
      place.next = undefined;
      // Sequence numbers and timestamps are rebased from here so the viewer sees one continuous stream.
      stream.continueAt(SWITCH_TIMESTAMP_STEP, header);
      layer.addSinkNow(stream);
      const done = place.onSwitched;
      place.onSwitched = undefined;
      done?.(layer);
    }
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
    this.#viewers.clear();
    for (const l of this.layers) l.close();
  }
}
