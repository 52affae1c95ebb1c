// The Ogg writer fills a gap in an Opus stream with concealment frames so the recording keeps its timeline, but
// only for time that really passed: a sender whose timestamps run ahead (found by fuzzing the recorder's pipeline)
// must not make each 20 ms packet cost minutes of audio, thousands of pages and milliseconds of the event loop.
import { describe, expect, it } from "vitest";
import { OggOpusWriter } from "../../../src/media/container/ogg.ts";

const packet = (n: number) => ({ payload: Uint8Array.of(0xfc, n, n), timestamp: 0 });
const at = (n: number, timestamp: number) => ({ ...packet(n), timestamp });
const bytes = (ops: { data: Uint8Array }[]) => ops.reduce((n, o) => n + o.data.length, 0);

describe("OggOpusWriter gap fill", () => {
  it("a sender stepping its clock ten minutes a packet gets no more concealment than real time (plus 1 s)", () => {
    const w = new OggOpusWriter({ serial: 1 });
    w.processInput(at(0, 0), 0);
    let written = 0;
    for (let i = 1; i <= 50; i++) written += bytes(w.processInput(at(i, i * 48000 * 599), i * 20));
    // 50 packets over 1 s of real time: at most 1 s plus 1 s of slack per packet, not 50 x 10 minutes.
    expect(w.durationSamples).toBeLessThanOrEqual(48000 * (1 + 50 * 1) + 51 * 960);
    expect(written).toBeLessThan(200_000);
  });

  it("a real outage is filled in full: 5 s of silence after 5 s of wall time", () => {
    const w = new OggOpusWriter({ serial: 1 });
    w.processInput(at(0, 0), 10_000);
    w.processInput(at(1, 960 + 48000 * 5), 15_000);
    expect(w.filled).toBe(250);
  });

  it("without arrival times the writer fills up to maxGapFill, as before", () => {
    const w = new OggOpusWriter({ serial: 1 });
    w.processInput(at(0, 0));
    w.processInput(at(1, 960 + 48000 * 5));
    expect(w.filled).toBe(250);
  });
});
