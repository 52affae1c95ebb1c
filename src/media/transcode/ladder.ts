// Transcoding ladders: `720p:2500k,480p:1200k,240p:400k` from TRANSCODE_LADDER, a WHIP `?ladder=` or a JWT claim,
// and fitting a ladder to the source's real size. Pure: no I/O, no config.

interface Rung {
  /** The layer name viewers pick (`?layer=480p`): the height with a `p`. */
  name: string;
  height: number;
  bitrateKbps: number;
}

export type Ladder = readonly Rung[];

/** One rendition of one source: a rung with the width that keeps the source's aspect ratio. */
export interface Rendition extends Rung {
  width: number;
}

export class LadderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LadderError";
  }
}

export const MAX_RUNGS = 6;
const MIN_HEIGHT = 72;
const MAX_HEIGHT = 4320;
const MIN_KBPS = 30;
const MAX_KBPS = 100_000;

/** What a rung gets when the ladder names no bitrate (`360p`): common streaming figures for 30 fps. */
const DEFAULT_KBPS: ReadonlyMap<number, number> = new Map([
  [2160, 12000],
  [1440, 8000],
  [1080, 4500],
  [720, 2500],
  [540, 1500],
  [480, 1200],
  [360, 800],
  [240, 400],
  [180, 250],
  [144, 200],
]);

/** Rungs not in the table scale with the pixel count from the nearest row above them. */
export function defaultBitrateKbps(height: number): number {
  const exact = DEFAULT_KBPS.get(height);
  if (exact !== undefined) return exact;
  const above = [...DEFAULT_KBPS.keys()].filter((h) => h > height).sort((a, b) => a - b)[0] ?? 2160;
  const kbps = (DEFAULT_KBPS.get(above) as number) * (height / above) ** 2;
  return Math.max(MIN_KBPS, Math.round(kbps / 10) * 10);
}

/** `2500k`, `2.5M`, `800K`: kilobits per second. A bare number is refused: bits or kilobits would be a guess. */
function parseBitrate(raw: string, entry: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM])$/.exec(raw);
  if (!m) throw new LadderError(`"${entry}": bitrate must look like 800k or 2.5M`);
  const kbps = Math.round(Number(m[1]) * ((m[2] as string).toLowerCase() === "m" ? 1000 : 1));
  if (kbps < MIN_KBPS || kbps > MAX_KBPS) {
    throw new LadderError(`"${entry}": bitrate must be between ${MIN_KBPS}k and ${MAX_KBPS / 1000}M`);
  }
  return kbps;
}

/**
 * Parses a ladder. Empty, `off` and `none` mean no transcoding (an empty ladder), so a room can opt out of the
 * server's default. Rungs come back tallest first; a height twice, an odd height (the scalers need even sizes) or a
 * malformed entry is a LadderError whose message names the entry.
 */
export function parseLadder(text: string): Ladder {
  const trimmed = text.trim();
  if (trimmed === "" || /^(off|none)$/i.test(trimmed)) return [];
  const rungs: Rung[] = [];
  for (const rawEntry of trimmed.split(",")) {
    const entry = rawEntry.trim();
    const m = /^(\d{2,4})[pP]\s*(?::\s*(.+))?$/.exec(entry);
    if (!m) throw new LadderError(`"${entry}" is not a rung like 480p:1200k`);
    const height = Number(m[1]);
    if (height < MIN_HEIGHT || height > MAX_HEIGHT) {
      throw new LadderError(`"${entry}": height must be between ${MIN_HEIGHT} and ${MAX_HEIGHT}`);
    }
    if (height % 2 !== 0) throw new LadderError(`"${entry}": height must be even`);
    if (rungs.some((r) => r.height === height)) throw new LadderError(`"${entry}": ${height}p is in the ladder twice`);
    const bitrateKbps = m[2] === undefined ? defaultBitrateKbps(height) : parseBitrate(m[2].trim(), entry);
    rungs.push({ name: `${height}p`, height, bitrateKbps });
  }
  if (rungs.length > MAX_RUNGS) throw new LadderError(`at most ${MAX_RUNGS} rungs, got ${rungs.length}`);
  return rungs.sort((a, b) => b.height - a.height);
}

/** The canonical text of a ladder (`720p:2500k,360p:800k`), as the API and logs show it. */
export function formatLadder(ladder: Ladder): string {
  return ladder.map((r) => `${r.name}:${r.bitrateKbps >= 1000 && r.bitrateKbps % 1000 === 0 ? `${r.bitrateKbps / 1000}M` : `${r.bitrateKbps}k`}`).join(",");
}

/**
 * The renditions a source of `width`×`height` gets: every rung no taller than the source (a rung above it would
 * only upscale and waste bits), each with the even width that keeps the source's aspect ratio.
 */
export function fitLadder(ladder: Ladder, source: { width: number; height: number }): Rendition[] {
  if (source.width <= 0 || source.height <= 0) return [];
  return ladder
    .filter((r) => r.height <= source.height)
    .map((r) => ({ ...r, width: Math.max(2, Math.round((source.width * r.height) / source.height / 2) * 2) }));
}
