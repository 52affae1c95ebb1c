// Issue 17: OBS 32.1+'s simulcast from libdatachannel (see helpers/obsSimulcast.ts for the offer and the packets)
// is forwarded with layers like Chromium's: the room API lists each rid with its own SSRC and traffic, and a
// Chromium viewer picks each layer, by `?layer=` and by the WHEP layer extension, and decodes it at that layer's size.
// The server needed no change for it (werift demuxes by the rid extension whatever its id, with or without the mid
// extension or a declared SSRC): these tests keep it so. They fail when the rid extension is not negotiated.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, type TestContext } from "vitest";
import {
  closeAndDelete,
  inboundStats,
  launchChromium,
  openServerPage,
  playInPage,
  waitPageConnected,
  type PageInboundStats,
} from "./helpers/browser.ts";
import { obsLayers, obsSimulcastPublish, type ObsSimulcastOptions, type ObsSimulcastPublisher } from "./helpers/obsSimulcast.ts";
import { startServer, waitFor, type ServerHandle } from "./helpers/server.ts";

interface RoomLayer {
  name: string;
  ssrc: number | null;
  packets: number;
  bitrate: number;
}
interface RoomDetails {
  tracks: { kind: string; codec: string; layers: RoomLayer[] }[];
}

describe("OBS simulcast (libdatachannel rid layers)", () => {
  let server: ServerHandle;
  let browser: Browser;

  beforeAll(async () => {
    [server, browser] = await Promise.all([startServer(), launchChromium()]);
  });
  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
  });

  async function roomDetails(room: string): Promise<RoomDetails> {
    const res = await fetch(`${server.url}/api/rooms/${room}`);
    if (res.status !== 200) throw new Error(`GET /api/rooms/${room}: ${res.status}`);
    return (await res.json()) as RoomDetails;
  }

  async function publish(ctx: TestContext, room: string, opts: ObsSimulcastOptions): Promise<ObsSimulcastPublisher> {
    const pub = await obsSimulcastPublish(server.url, room, opts);
    ctx.onTestFinished(() => pub.close().then(() => undefined));
    return pub;
  }

  /** Every layer listed under its rid, with the publisher's SSRC for it and traffic. */
  async function expectLayersListed(pub: ObsSimulcastPublisher, room: string): Promise<void> {
    const rids = pub.layers.map((l) => l.rid);
    expect(pub.answer).toMatch(new RegExp(`a=simulcast:recv ${rids.join(";")}\\s*\\r\\n`));
    const video = await waitFor(
      async () => {
        const v = (await roomDetails(room)).tracks.find((t) => t.kind === "video");
        return v && v.layers.length === rids.length && v.layers.every((l) => l.packets > 20 && l.bitrate > 0) ? v : undefined;
      },
      10_000,
      `layers ${rids.join(", ")} with traffic`,
    ).catch(async (err: unknown) => {
      throw new Error(`${String(err)}: ${JSON.stringify((await roomDetails(room)).tracks)}`);
    });
    expect(video.codec).toBe("video/H264");
    expect(video.layers.map((l) => [l.name, l.ssrc])).toEqual(pub.layers.map((l) => [l.rid, l.ssrc]));
  }

  /** Waits until the page decodes frames of this size, and more of them since the size was first seen. */
  async function waitDecodesAt(page: Page, width: number, height: number, what: string): Promise<PageInboundStats> {
    let at: number | undefined;
    return waitFor(
      async () => {
        const s = await inboundStats(page);
        const v = s.video;
        if (!v || v.frameWidth !== width || v.frameHeight !== height) return undefined;
        at ??= v.framesDecoded;
        return v.framesDecoded > at + 15 ? s : undefined;
      },
      20_000,
      `${what}: frames decoded at ${width}x${height}`,
    ).catch(async (err: unknown) => {
      throw new Error(`${String(err)}: ${JSON.stringify(await inboundStats(page))}`);
    });
  }

  it("three layers (OBS's 1280x720, 852x480, 426x240): listed by rid; ?layer=0 and ?layer=2 decode at their sizes; POST /layer moves 0 to 1", async (ctx) => {
    const room = "obs-sim3";
    const pub = await publish(ctx, room, { layers: obsLayers(3) });
    expect(pub.offer).toMatch(/a=simulcast:send 0;1;2\r\n/);
    expect(pub.offer).not.toMatch(/m=video[\s\S]*a=ssrc:/);
    await expectLayersListed(pub, room);

    const [top, low] = await Promise.all([openServerPage(browser, server.url), openServerPage(browser, server.url)]);
    ctx.onTestFinished(() => Promise.allSettled([top.close(), low.close()]).then(() => undefined));
    const playedTop = await playInPage(top, server.url, room, { layer: "0" });
    await playInPage(low, server.url, room, { layer: "2" });
    await Promise.all([waitPageConnected(top), waitPageConnected(low)]);
    const [l0, l2] = pub.layers.length === 3 ? [pub.layers[0], pub.layers[2]] : [];
    await waitDecodesAt(top, l0?.width ?? 0, l0?.height ?? 0, "?layer=0");
    await waitDecodesAt(low, l2?.width ?? 0, l2?.height ?? 0, "?layer=2");

    const layerUrl = playedTop.layerUrl as string;
    expect(((await (await fetch(layerUrl)).json()) as { layers: string[]; current: string }).layers).toEqual(["0", "1", "2"]);
    const res = await fetch(layerUrl, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ encodingId: "1" }) });
    expect(res.status).toBe(200);
    const l1 = pub.layers[1];
    await waitDecodesAt(top, l1?.width ?? 0, l1?.height ?? 0, "after POST /layer 1");
    expect(((await (await fetch(layerUrl)).json()) as { current: string }).current).toBe("1");
    expect(await closeAndDelete(top)).toBe(200);
    expect(await closeAndDelete(low)).toBe(200);
  });

  it.for<{ name: string; opts: ObsSimulcastOptions }>([
    { name: "four layers, mid/rid extension ids 3/4", opts: { layers: obsLayers(4, 1280, 720), midId: 3, ridId: 4 } },
    { name: "three layers, rid only (no mid extension), rid id 14", opts: { layers: obsLayers(3, 960, 540), ridId: 14, noMidExtension: true } },
    { name: "two layers, the first layer's SSRC declared by a=ssrc", opts: { layers: obsLayers(2, 960, 540), declareFirstSsrc: true } },
  ])("$name: every layer listed, and one viewer steps through each by POST /layer at its size", async ({ opts }, ctx) => {
    const room = `obs-sim-${opts.layers?.length}-${opts.ridId ?? 2}-${opts.declareFirstSsrc ? "ssrc" : "rid"}`;
    const pub = await publish(ctx, room, opts);
    await expectLayersListed(pub, room);
    const page = await openServerPage(browser, server.url);
    ctx.onTestFinished(() => page.close());
    const last = pub.layers[pub.layers.length - 1];
    const played = await playInPage(page, server.url, room, { layer: last?.rid });
    await waitPageConnected(page);
    await waitDecodesAt(page, last?.width ?? 0, last?.height ?? 0, `?layer=${last?.rid}`);
    for (const layer of [...pub.layers].reverse().slice(1)) {
      const res = await fetch(played.layerUrl as string, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ encodingId: layer.rid }),
      });
      expect(res.status).toBe(200);
      await waitDecodesAt(page, layer.width, layer.height, `POST /layer ${layer.rid}`);
    }
    expect(await closeAndDelete(page)).toBe(200);
  });
});
