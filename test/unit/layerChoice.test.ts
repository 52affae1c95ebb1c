import { describe, expect, it } from "vitest";
import { chooseLayer, UPGRADE_TICKS } from "../../src/room/layerChoice.ts";

const LAYERS = [
  { name: "h", bitrate: 1_500_000 },
  { name: "m", bitrate: 500_000 },
  { name: "l", bitrate: 150_000 },
];

describe("chooseLayer", () => {
  it("moves down at once to the highest layer the estimate carries with 10% headroom", () => {
    expect(chooseLayer(LAYERS, "h", 600_000, 0)).toEqual({ move: true, to: "m", direction: "down", upgradeVotes: 0 });
    expect(chooseLayer(LAYERS, "h", 200_000, 2)).toEqual({ move: true, to: "l", direction: "down", upgradeVotes: 0 });
    // Below every layer: the lowest one, still.
    expect(chooseLayer(LAYERS, "m", 50_000, 0)).toEqual({ move: true, to: "l", direction: "down", upgradeVotes: 0 });
  });

  it("moves up only after the estimate has had room for UPGRADE_TICKS ticks in a row", () => {
    let votes = 0;
    for (let i = 1; i < UPGRADE_TICKS; i++) {
      const d = chooseLayer(LAYERS, "l", 5_000_000, votes);
      expect(d).toEqual({ move: false, upgradeVotes: i });
      votes = d.upgradeVotes;
    }
    expect(chooseLayer(LAYERS, "l", 5_000_000, votes)).toEqual({ move: true, to: "h", direction: "up", upgradeVotes: 0 });
  });

  it("a tick where the current layer is right resets the votes; no estimate changes nothing", () => {
    expect(chooseLayer(LAYERS, "m", 700_000, 2)).toEqual({ move: false, upgradeVotes: 0 });
    expect(chooseLayer(LAYERS, "h", 0, 2)).toEqual({ move: false, upgradeVotes: 2 });
  });

  it("layers not sending (bitrate 0) are never chosen", () => {
    const idle = [{ name: "h", bitrate: 0 }, ...LAYERS.slice(1)];
    expect(chooseLayer(idle, "m", 5_000_000, UPGRADE_TICKS)).toEqual({ move: false, upgradeVotes: 0 });
  });
});
