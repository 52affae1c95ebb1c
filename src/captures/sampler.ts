// Turns a room's counters, read once a second, into a capture's samples: rates are counter deltas over the time
// between two reads, so nothing in the forwarding path does more than count. Pure: the room is read elsewhere
// (roomSnapshot.ts), and the tests feed it made-up snapshots.
import type { CaptureEvent, CaptureSample, CaptureLayerSample, CaptureSpread, CaptureTrackSample } from "../api.ts";

export interface LayerSnapshot {
  name: string;
  rendition: boolean;
  bytes: number;
  packets: number;
  /** RTP timestamps that moved forward: frames for video. */
  frames: number;
  viewers: number;
}

export interface TrackSnapshot {
  index: number;
  kind: "audio" | "video";
  codec: string;
  packets: number;
  lost: number;
  layers: LayerSnapshot[];
}

export interface ViewerSnapshot {
  /** The public id. */
  id: string;
  layer: string | null;
  /** From the viewer's receiver reports, null before its first. */
  rttMs: number | null;
  fractionLost: number | null;
}

export interface RoomSnapshot {
  /** When it was read (ms since the epoch). */
  at: number;
  publisherState: string | null;
  tracks: TrackSnapshot[];
  viewers: ViewerSnapshot[];
  transcoder: string | null;
}

interface Totals {
  bytes: number;
  packets: number;
  frames: number;
}

const layerKey = (track: number, layer: string) => `${track}/${layer}`;

function spread(values: number[]): CaptureSpread | null {
  if (values.length === 0) return null;
  let sum = 0;
  let max = -Infinity;
  for (const v of values) {
    sum += v;
    if (v > max) max = v;
  }
  return { mean: round(sum / values.length, 4), max: round(max, 4) };
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export class CaptureSampler {
  readonly #startedAt: number;
  #at: number | undefined;
  readonly #layers = new Map<string, Totals>();
  readonly #tracks = new Map<number, { packets: number; lost: number }>();
  readonly #viewerLayers = new Map<string, string | null>();
  #transcoder: string | null = null;

  constructor(startedAt: number) {
    this.#startedAt = startedAt;
  }

  /** The counters rates are measured from; the first sample follows one interval later. */
  baseline(snap: RoomSnapshot): void {
    this.#remember(snap);
  }

  /** The sample since the previous read, and the layer switches and transcoder changes seen in between. */
  sample(snap: RoomSnapshot): { sample: CaptureSample; events: CaptureEvent[] } {
    const t = snap.at - this.#startedAt;
    const elapsedMs = this.#at === undefined ? 0 : snap.at - this.#at;
    const perSec = (delta: number) => (elapsedMs > 0 ? (delta * 1000) / elapsedMs : 0);
    const tracks: CaptureTrackSample[] = snap.tracks.map((track) => {
      const layers: CaptureLayerSample[] = track.layers.map((l) => {
        const prev = this.#layers.get(layerKey(track.index, l.name));
        // A layer that is new, or whose counters went back (the publisher was replaced), starts from zero.
        const base = prev && prev.bytes <= l.bytes && prev.frames <= l.frames ? prev : { bytes: l.bytes, packets: l.packets, frames: l.frames };
        return {
          name: l.name,
          bitrate: Math.round(perSec((l.bytes - base.bytes) * 8)),
          frameRate: track.kind === "video" ? round(perSec(l.frames - base.frames), 1) : 0,
          viewers: l.viewers,
          rendition: l.rendition,
        };
      });
      const prev = this.#tracks.get(track.index);
      const base = prev && prev.packets <= track.packets && prev.lost <= track.lost ? prev : { packets: track.packets, lost: track.lost };
      const received = track.packets - base.packets;
      const lost = track.lost - base.lost;
      const source = layers.filter((l) => !l.rendition);
      return {
        index: track.index,
        kind: track.kind,
        codec: track.codec,
        bitrate: source.reduce((s, l) => s + l.bitrate, 0),
        frameRate: source.reduce((m, l) => Math.max(m, l.frameRate), 0),
        packets: track.packets,
        packetsLost: track.lost,
        loss: received + lost > 0 ? round(lost / (received + lost), 4) : 0,
        layers,
      };
    });
    const rtts: number[] = [];
    const losses: number[] = [];
    for (const v of snap.viewers) {
      if (v.rttMs !== null) rtts.push(v.rttMs);
      if (v.fractionLost !== null) losses.push(v.fractionLost);
    }
    const events: CaptureEvent[] = [];
    for (const v of snap.viewers) {
      if (!this.#viewerLayers.has(v.id)) continue;
      const before = this.#viewerLayers.get(v.id) ?? null;
      if (before !== v.layer && before !== null) events.push({ t, type: "layer.switched", session: v.id, from: before, to: v.layer });
    }
    if (snap.transcoder !== this.#transcoder) events.push({ t, type: "transcoder.state", from: this.#transcoder, to: snap.transcoder });
    this.#remember(snap);
    const sample: CaptureSample = {
      t,
      viewers: snap.viewers.length,
      publisherState: snap.publisherState,
      tracks,
      rttMs: spread(rtts),
      viewerLoss: spread(losses),
      transcoder: snap.transcoder,
    };
    return { sample, events };
  }

  #remember(snap: RoomSnapshot): void {
    this.#at = snap.at;
    this.#layers.clear();
    this.#tracks.clear();
    for (const track of snap.tracks) {
      this.#tracks.set(track.index, { packets: track.packets, lost: track.lost });
      for (const l of track.layers) this.#layers.set(layerKey(track.index, l.name), { bytes: l.bytes, packets: l.packets, frames: l.frames });
    }
    this.#viewerLayers.clear();
    for (const v of snap.viewers) this.#viewerLayers.set(v.id, v.layer);
    this.#transcoder = snap.transcoder;
  }
}
