// The transcoder's ports, as media/depacketize and media/container have theirs: what it reads (the publisher's
// video) and where its renditions go. A room implements them with its track and layers (room/publishedTrack.ts);
// nothing here knows rooms.
import type { RtpPacket } from "werift";

/** The publisher's video, as a transcoder reads it. */
export interface TranscodeSource {
  readonly codec: { readonly mimeType: string; readonly fmtp: string; readonly payloadType: number };
  /** The publisher sends simulcast layers of its own: those are used instead of a ladder. */
  readonly simulcast: boolean;
  /** Every packet of the source, as it arrives; returns the remover. */
  addTap(tap: (rtp: RtpPacket) => void): () => void;
  /** Asks the publisher for a keyframe (throttled by the source); whether one was asked for. */
  requestKeyframe(): boolean;
  /** A new output for the rendition of this name (a name the source does not have yet). */
  addRendition(name: string): RenditionOutput;
}

/** Where one rendition's RTP goes: to the viewers who picked it. */
export interface RenditionOutput {
  forward(rtp: RtpPacket): void;
  /** Bits per second of what was forwarded, over the last second. */
  readonly bitrate: number;
  /** Viewers on this rendition now. */
  readonly viewers: number;
  close(): void;
}
