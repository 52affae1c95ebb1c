// Which simulcast layer a viewer on automatic layers should be on, from its receive estimate (REMB). Pure, so the
// hysteresis is testable: down at once when the estimate cannot carry the current layer, up only after the
// estimate has had room for a higher one for UPGRADE_TICKS consecutive ticks (one tick a second).

export const UPGRADE_TICKS = 3;
/** A layer fits when its bitrate is at most this share of the estimate. */
const HEADROOM = 0.9;

export interface LayerRate {
  name: string;
  bitrate: number;
}

export type LayerDecision =
  | { move: false; upgradeVotes: number }
  | { move: true; to: string; direction: "down" | "up"; upgradeVotes: 0 };

export function chooseLayer(layers: readonly LayerRate[], current: string, estimate: number, upgradeVotes: number): LayerDecision {
  if (!(estimate > 0)) return { move: false, upgradeVotes };
  const byRate = layers.filter((l) => l.bitrate > 0).sort((x, y) => y.bitrate - x.bitrate);
  const fitting = byRate.find((l) => l.bitrate <= estimate * HEADROOM) ?? byRate[byRate.length - 1];
  const now = layers.find((l) => l.name === current);
  if (!fitting || !now || fitting.name === current) return { move: false, upgradeVotes: 0 };
  if (fitting.bitrate < now.bitrate) return { move: true, to: fitting.name, direction: "down", upgradeVotes: 0 };
  if (upgradeVotes + 1 >= UPGRADE_TICKS) return { move: true, to: fitting.name, direction: "up", upgradeVotes: 0 };
  return { move: false, upgradeVotes: upgradeVotes + 1 };
}
