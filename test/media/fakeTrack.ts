// A published track without WebRTC: the RecordableTrack side of PublishedTrack, fed by the test.
import type { RtpLike } from "../../src/media/rtp/packet.ts";
import type { RecordableTrack } from "../../src/media/recorder/trackRecorder.ts";

export class TestTrack implements RecordableTrack {
  readonly kind: "audio" | "video";
  readonly index: number;
  readonly codec: { mimeType: string; clockRate: number; fmtp: string };
  senderReport: RecordableTrack["senderReport"];
  keyframeRequests = 0;
  #taps: ((rtp: RtpLike) => void)[] = [];

  constructor(kind: "audio" | "video", mimeType: string, opts: { index?: number; fmtp?: string } = {}) {
    this.kind = kind;
    this.index = opts.index ?? 0;
    this.codec = { mimeType, clockRate: kind === "audio" ? 48000 : 90000, fmtp: opts.fmtp ?? "" };
  }

  get taps(): number {
    return this.#taps.length;
  }

  addTap(tap: (rtp: RtpLike) => void): () => void {
    this.#taps = [...this.#taps, tap];
    return () => {
      this.#taps = this.#taps.filter((t) => t !== tap);
    };
  }

  requestKeyframe(): boolean {
    this.keyframeRequests++;
    return true;
  }

  send(rtp: RtpLike): void {
    for (const t of this.#taps) t(rtp);
  }
}
