// The two hunks of patches/werift@0.25.2.patch no other test covers (see patches/README.md): a session
// description is not cached, and a sender makes its bandwidth estimator, RED encoder and report-loop abort
// controller only when used. Each test fails without its hunk.
import { afterEach, describe, expect, it } from "vitest";
import { MediaStreamTrack, RTCPeerConnection } from "werift";

const open: RTCPeerConnection[] = [];
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((pc) => pc.close()));
});

describe("werift, patched", () => {
  it("a peer's session description is built anew on each read, not kept", async () => {
    const pc = new RTCPeerConnection({ iceAdditionalHostAddresses: ["127.0.0.1"] });
    open.push(pc);
    pc.addTransceiver(new MediaStreamTrack({ kind: "video" }), { direction: "sendonly" });
    await pc.setLocalDescription(await pc.createOffer());
    const a = pc.localDescription;
    const b = pc.localDescription;
    expect(a?.sdp).toBe(b?.sdp);
    expect(a).not.toBe(b);
  });

  it("a sender holds no bandwidth estimator, RED encoder or abort controller until they are used", () => {
    const pc = new RTCPeerConnection({ iceAdditionalHostAddresses: ["127.0.0.1"] });
    open.push(pc);
    const sender = pc.addTransceiver(new MediaStreamTrack({ kind: "video" }), { direction: "sendonly" }).sender;
    const own = Object.getOwnPropertyNames(sender);
    expect(own.filter((n) => ["senderBWE", "redEncoder", "rtcpCancel"].includes(n))).toEqual([]);
    // Made on first use, and the same object after.
    expect(sender.senderBWE).toBe(sender.senderBWE);
    expect(sender.redEncoder).toBe(sender.redEncoder);
    sender.redDistance = 3;
    expect(sender.redEncoder.distance).toBe(3);
    expect((sender as unknown as { rtcpCancel: AbortController }).rtcpCancel.signal.aborted).toBe(false);
  });
});
