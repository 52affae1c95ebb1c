// ICE restart the WHEP way (RFC 9725 §4.3.2) from a real browser: the Chromium viewer restarts ICE, PATCHes its new
// credentials with If-Match: "*", applies the server's sdpfrag answer, and keeps decoding on the new ICE session.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireTool } from "../helpers/requireTool.ts";
import {
  closeAndDelete,
  inboundStats,
  launchChromium,
  openServerPage,
  playInPage,
  publishFromPage,
  waitForDecodedFrames,
  waitPageConnected,
} from "./helpers/browser.ts";
import { startServer, waitFor, type ServerHandle } from "./helpers/server.ts";

requireTool("chromium");

describe("Chromium ICE restart over PATCH", () => {
  let server: ServerHandle;
  let browser: Browser;
  const pages: Page[] = [];
  beforeAll(async () => {
    [server, browser] = await Promise.all([startServer(), launchChromium()]);
  });
  afterAll(async () => {
    await Promise.allSettled(pages.map((p) => p.close()));
    await browser?.close();
    await server?.stop();
  });

  it("200 with an sdpfrag and a new ETag; the viewer's new ICE ufrag is in use and frames keep decoding", async () => {
    const [pub, view] = await Promise.all([openServerPage(browser, server.url), openServerPage(browser, server.url)]);
    pages.push(pub, view);
    await publishFromPage(pub, server.url, "restart", { codec: "VP8" });
    await waitPageConnected(pub);
    await playInPage(view, server.url, "restart");
    await waitPageConnected(view);
    const before = await waitForDecodedFrames(view, 20, 20_000);

    const result = await view.evaluate(async () => {
      const rc = window.__rc;
      if (!rc) throw new Error("no session on the page");
      const pc = rc.pc;
      const oldAnswer = pc.remoteDescription?.sdp ?? "";
      pc.restartIce();
      await pc.setLocalDescription(await pc.createOffer());
      await window.__rcGathered(pc);
      const local = pc.localDescription?.sdp ?? "";
      const ufrag = /a=ice-ufrag:(\S+)/.exec(local)?.[1] ?? "";
      const pwd = /a=ice-pwd:(\S+)/.exec(local)?.[1] ?? "";
      const candidates = local.split("\r\n").filter((l) => l.startsWith("a=candidate:"));
      const frag = [`a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`, "m=video 9 UDP/TLS/RTP/SAVPF 0", "a=mid:0", ...candidates, "a=end-of-candidates", ""].join("\r\n");
      const res = await fetch(rc.location, {
        method: "PATCH",
        body: frag,
        headers: { "Content-Type": "application/trickle-ice-sdpfrag", "If-Match": "*" },
      });
      const body = await res.text();
      if (res.status !== 200) return { status: res.status, body, etag: null, newUfrag: "", oldUfrag: "" };
      const newUfrag = /a=ice-ufrag:(\S+)/.exec(body)?.[1] ?? "";
      const newPwd = /a=ice-pwd:(\S+)/.exec(body)?.[1] ?? "";
      const serverCandidates = body.split("\r\n").filter((l) => l.startsWith("a=candidate:"));
      // The new answer is the old one with the server's new credentials and candidates in every section.
      const answer = oldAnswer
        .split("\r\n")
        .filter((l) => !l.startsWith("a=candidate:") && l !== "a=end-of-candidates")
        .map((l) => (l.startsWith("a=ice-ufrag:") ? `a=ice-ufrag:${newUfrag}` : l.startsWith("a=ice-pwd:") ? `a=ice-pwd:${newPwd}` : l))
        .flatMap((l) => (l.startsWith("a=mid:") ? [l, ...serverCandidates] : [l]))
        .join("\r\n");
      await pc.setRemoteDescription({ type: "answer", sdp: answer });
      return { status: res.status, body, etag: res.headers.get("ETag"), newUfrag, oldUfrag: /a=ice-ufrag:(\S+)/.exec(oldAnswer)?.[1] ?? "" };
    });
    expect(result.status, result.body).toBe(200);
    expect(result.body).toMatch(/a=candidate:/);
    expect(result.etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(result.newUfrag).not.toBe(result.oldUfrag);

    // The browser's selected pair now uses the server's new ICE credentials, and decoding goes on.
    await waitFor(
      async () =>
        view.evaluate(async (ufrag) => {
          const stats = await window.__rc?.pc.getStats();
          let ok = false;
          stats?.forEach((s) => {
            if (s.type === "transport" && s.selectedCandidatePairId && s.iceState === "connected") ok = true;
          });
          return ok && (window.__rc?.pc.remoteDescription?.sdp ?? "").includes(`a=ice-ufrag:${ufrag}`);
        }, result.newUfrag),
      15_000,
      "the viewer connected on the restarted ICE session",
    );
    const framesAfterRestart = (await inboundStats(view)).video?.framesDecoded ?? 0;
    const after = await waitForDecodedFrames(view, framesAfterRestart + 30, 20_000);
    expect(after.video?.framesDecoded ?? 0).toBeGreaterThan((before.video?.framesDecoded ?? 0) + 30);
    expect(await closeAndDelete(view)).toBe(200);
    expect(await closeAndDelete(pub)).toBe(200);
  });
});
