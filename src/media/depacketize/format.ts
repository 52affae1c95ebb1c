// What each video RTP payload format (VP8, VP9, AV1, H264, H265) tells the frame assembler.

export interface AssembledFrame {
  /** The frame as the codec's file formats store it (VP8/VP9 frame, AV1 temporal unit, H264/H265 Annex-B access unit). */
  data: Buffer;
  /** Decodable on its own: a recording may start here or resume here after loss. */
  keyframe: boolean;
  width?: number;
  height?: number;
}

export interface VideoPayloadFormat {
  readonly codec: "VP8" | "VP9" | "AV1" | "H264" | "H265";
  /** Whether this payload begins a frame, so nothing of the frame came before it. */
  isFrameStart(payload: Uint8Array): boolean;
  /** Joins one frame's payloads, in sequence order and complete, into the frame; undefined when malformed. */
  assemble(payloads: readonly Uint8Array[]): AssembledFrame | undefined;
}
