// The JSON of a stats capture (GET /api/admin/captures/{id} and the file in DATA_DIR/captures): one sample a second
// of a room's tracks, layers and viewers, and the timeline's events. docs/api.md describes every field.

export type CaptureState = "running" | "stopped" | "interrupted";

/** Why a capture ended. "interrupted": the server stopped without finishing it (a crash): the file has what was saved. */
export type StopReason = "stopped" | "max-duration" | "size-limit" | "room-closed" | "server-shutdown";

export interface LayerSample {
  name: string;
  /** Bits per second over the last interval. */
  bitrate: number;
  /** Frames per second over the last interval (RTP timestamps that moved forward); 0 for audio. */
  frameRate: number;
  /** Viewers sent this layer now. */
  viewers: number;
  rendition: boolean;
}

export interface TrackSample {
  index: number;
  kind: "audio" | "video";
  codec: string;
  bitrate: number;
  frameRate: number;
  /** Totals since the publisher began. */
  packets: number;
  packetsLost: number;
  /** Fraction (0..1) of the publisher's packets of this track missing over the last interval. */
  loss: number;
  layers: LayerSample[];
}

/** An aggregate over the viewers that have reported it in RTCP; null when none has. */
export interface Spread {
  mean: number;
  max: number;
}

export interface CaptureSample {
  /** Milliseconds since the capture started. */
  t: number;
  viewers: number;
  /** "connecting", "connected", "disconnected", "closed", or null with no publisher. */
  publisherState: string | null;
  tracks: TrackSample[];
  /** Round-trip times from the viewers' receiver reports, in ms. */
  rttMs: Spread | null;
  /** The viewers' fraction lost (0..1) from their receiver reports. */
  viewerLoss: Spread | null;
  /** The transcoder's state, or null without one. */
  transcoder: string | null;
}

export type CaptureEventType =
  | "publisher.joined"
  | "publisher.left"
  | "viewer.joined"
  | "viewer.left"
  | "layer.switched"
  | "transcoder.state";

export interface CaptureEvent {
  t: number;
  type: CaptureEventType;
  /** The session's public id (publisher and viewer events, layer switches). */
  session?: string;
  /** Layer switches: the layer before and after; transcoder: the state before and after. */
  from?: string | null;
  to?: string | null;
}

export interface CaptureSummary {
  id: string;
  room: string;
  startedAt: string;
  stoppedAt: string | null;
  state: CaptureState;
  stopReason: StopReason | null;
  maxSeconds: number;
  sampleCount: number;
}

export interface CaptureStarted {
  id: string;
  room: string;
  startedAt: string;
  state: CaptureState;
  maxSeconds: number;
}

export interface CaptureFile extends CaptureSummary {
  intervalMs: number;
  /** The roomcast that made it. */
  version: string;
  samples: CaptureSample[];
  events: CaptureEvent[];
}
