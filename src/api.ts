// The JSON roomcast sends, as named types: every HTTP API answer (docs/api.md) and every event of GET /api/events.
// The rooms build them, the HTTP layer and the events hub send them; a change to one of these is a change to the
// contract. Kept apart from both so that each can import it.
import type { IceServer } from "./config.ts";
import type { TranscodeDetails } from "./media/transcode/transcoder.ts";
import type { TranscodeStatus } from "./media/transcode/transcodeService.ts";

/** Every refusal, whatever its status. */
export interface ErrorBody {
  error: string;
}

// ---- GET /api/bootstrap ----------------------------------------------------------------------------------------

export interface Bootstrap {
  authEnabled: boolean;
  recordEnabled: boolean;
  iceServers: IceServer[];
  features: {
    rooms: true;
    records: boolean;
    /** Absent where the app is built without transcoding (unit tests). */
    transcode?: TranscodeStatus;
  };
  version: string;
}

// ---- GET /api/health -------------------------------------------------------------------------------------------

/** What a probe or a status page may show anyone; nothing about paths, tokens or ffmpeg. */
export interface Health {
  status: "ok";
  /** Whole seconds since this server started. */
  uptime: number;
  /** Open rooms, and the viewers in them. */
  rooms: number;
  viewers: number;
  version: string;
  /** In a cluster only: this node's id, and whether it reaches its directory (`detached`: it does not). */
  node?: string;
  cluster?: "joined" | "detached";
}

// ---- GET /api/rooms, GET /api/rooms/{room}, POST /api/admin/rooms/{room}/close ----------------------------------

/** One entry of GET /api/rooms: the reference's shape, `subscribers` included. */
export interface RoomSummary {
  name: string;
  hasPublisher: boolean;
  tracks: number;
  subscribers: number;
}

export interface LayerDetails {
  name: string;
  ssrc: number | null;
  packets: number;
  bitrate: number;
  viewers: number;
  /** Made by roomcast's transcoder, not sent by the publisher. */
  rendition: boolean;
}

export interface TrackDetails {
  kind: "audio" | "video";
  index: number;
  codec: string;
  fmtp: string;
  ssrc: number | null;
  packets: number;
  bytes: number;
  packetsLost: number;
  bitrate: number;
  viewers: number;
  layers: LayerDetails[];
}

export interface PublisherDetails {
  id: string;
  state: string;
  createdAt: string;
  packetsReceived: number;
  bytesReceived: number;
  packetsLost: number;
}

/** One outgoing stream of a viewer, from its RTCP (null before the viewer reported). */
export interface ViewerStreamStats {
  kind: "audio" | "video";
  codec: string;
  layer: string;
  packetsSent: number;
  bytesSent: number;
  nacks: number;
  plis: number;
  rttMs: number | null;
  fractionLost: number | null;
  packetsLost: number | null;
  jitterMs: number | null;
  estimatedBitrate: number | null;
}

export interface ViewerDetails {
  id: string;
  state: string;
  createdAt: string;
  codecs: string[];
  layer: string | null;
  packetsSent: number;
  bytesSent: number;
  nacks: number;
  plis: number;
  streams: ViewerStreamStats[];
}

/** A room whose publish asked for a ladder it cannot have (an H265 or simulcast publisher), and why. */
export interface NotTranscoded {
  state: "off";
  reason: string;
  renditions: [];
}

/** GET /api/rooms/{room}: the summary's fields, with `tracks` as the list of tracks. */
export interface RoomDetails extends Omit<RoomSummary, "tracks"> {
  liveSince: string;
  bitrate: number;
  tracks: TrackDetails[];
  transcode: TranscodeDetails | NotTranscoded | null;
  publisher: PublisherDetails | null;
  viewers: ViewerDetails[];
  /** In a cluster: every node serving the room and its viewers there (`subscribers` is their sum). */
  nodes?: NodeViewers[];
}

export interface NodeViewers {
  node: string;
  viewers: number;
}

export interface RoomClosed {
  closed: string;
}

// ---- GET /api/admin/sessions, DELETE /api/admin/sessions/{id} ---------------------------------------------------

/** One WHIP or WHEP session, as the admin sees it: by its public id (never its secret Location). */
export interface AdminSession {
  id: string;
  kind: "publisher" | "viewer";
  room: string;
  state: string;
  createdAt: string;
  /** The IP its WHIP/WHEP request came from; null when the server could not tell. */
  clientAddress: string | null;
  codecs: string[];
  /** A publisher's media in (all tracks); 0 for a viewer. */
  packetsReceived: number;
  bytesReceived: number;
  /** A viewer's media out (all streams); 0 for a publisher. */
  packetsSent: number;
  bytesSent: number;
  /** A publisher: gaps in its sequence numbers. A viewer: lost as its receiver reports say (null before one). */
  packetsLost: number | null;
  /** A viewer's round-trip time from its receiver reports (mean of its streams), null before one or for a publisher. */
  rttMs: number | null;
  /** A viewer's last fraction lost (0..1, its worst stream), null before a report or for a publisher. */
  fractionLost: number | null;
  /** The video layer a viewer is on; null for a publisher or an audio-only viewer. */
  layer: string | null;
}

export interface AdminSessionClosed {
  closed: string;
}

// ---- WHIP/WHEP session URLs ------------------------------------------------------------------------------------

export interface SessionDeleted {
  ok: true;
}

/** GET {Location}/layer. */
export interface LayerList {
  layers: string[];
  current: string | null;
}

/** POST {Location}/layer. */
export interface LayerSwitch {
  layer: string;
  layers: string[];
}

// ---- GET /api/records ------------------------------------------------------------------------------------------

export interface RecordListItem {
  name: string;
  size: number;
  modTime: string;
  url: string;
  room: string;
  kind: "video" | "audio" | "session";
  /** Still being written: not deletable, and its size grows. */
  inProgress: boolean;
}

// ---- GET /api/events -------------------------------------------------------------------------------------------

export interface TrackStats {
  kind: string;
  codec: string;
  /** Bits per second over the server's last stats tick. */
  bitrate: number;
  packets: number;
  packetsLost: number;
  /** Simulcast layers (one entry for a plain stream), with their bitrates: what a player's layer picker offers. */
  layers: { name: string; bitrate: number }[];
}

/** One room as the web app shows it; the same shape in `rooms`, `room-opened` and `stats` events. */
export interface RoomStats {
  room: string;
  liveSince: string;
  hasPublisher: boolean;
  /** "connecting", "connected", "disconnected" or "closed"; null before a publisher exists. */
  publisherState: string | null;
  viewers: number;
  /** Bits per second from the publisher, all tracks. */
  bitrate: number;
  /** Totals since the room opened. */
  packets: number;
  bytes: number;
  packetsLost: number;
  /** Packets per second received over the last interval. */
  packetRate: number;
  /** Fraction (0..1) of the publisher's packets missing over the last interval. */
  loss: number;
  tracks: TrackStats[];
}

export type HubEvent =
  | { type: "rooms"; data: RoomStats[] }
  | { type: "room-opened"; data: RoomStats }
  | { type: "room-closed"; data: { room: string } }
  | { type: "viewers"; data: { room: string; viewers: number } }
  | { type: "stats"; data: RoomStats };

// ---- /api/admin/captures: a stats capture, as GET /api/admin/captures/{id} answers and DATA_DIR/captures keeps it -

export type CaptureState = "running" | "stopped" | "interrupted";

/** Why a capture ended. "interrupted": the server stopped without finishing it (a crash): the file has what was saved. */
export type StopReason = "stopped" | "max-duration" | "size-limit" | "room-closed" | "server-shutdown";

export interface CaptureLayerSample {
  name: string;
  /** Bits per second over the last interval. */
  bitrate: number;
  /** Frames per second over the last interval (RTP timestamps that moved forward); 0 for audio. */
  frameRate: number;
  /** Viewers sent this layer now. */
  viewers: number;
  rendition: boolean;
}

export interface CaptureTrackSample {
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
  layers: CaptureLayerSample[];
}

/** An aggregate over the viewers that have reported it in RTCP; null when none has. */
export interface CaptureSpread {
  mean: number;
  max: number;
}

export interface CaptureSample {
  /** Milliseconds since the capture started. */
  t: number;
  viewers: number;
  /** "connecting", "connected", "disconnected", "closed", or null with no publisher. */
  publisherState: string | null;
  tracks: CaptureTrackSample[];
  /** Round-trip times from the viewers' receiver reports, in ms. */
  rttMs: CaptureSpread | null;
  /** The viewers' fraction lost (0..1) from their receiver reports. */
  viewerLoss: CaptureSpread | null;
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
