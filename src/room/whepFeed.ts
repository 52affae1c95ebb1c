// What one WHEP event stream tells its player (the server-sent events extension of draft-ietf-wish-whep-02,
// "Server Sent Events extension"): "active" and "inactive" as the publication starts and stops (the publisher
// connected and sending, or gone or stalled), "layers" (the video layers in the draft's JSON: per m-line index, a
// list of {rid, bitrate}), "viewercount". Pure: the hub (whepEvents.ts) reads the room once a second and hands the
// view to each stream's feed, which says what changed since it last spoke.

export const WHEP_EVENT_TYPES = ["active", "inactive", "layers", "viewercount"] as const;
export type WhepEventType = (typeof WHEP_EVENT_TYPES)[number];

/** One layer as the draft describes it: `rid` is the name a player picks with the layer extension. */
export interface WhepLayer {
  rid: string;
  /** Bits per second now; 0 means the layer is inactive (the draft's rule). */
  bitrate: number;
}

/** Keyed by the viewer's m-line index (as a string, JSON's only key type). */
export type WhepLayers = Record<string, WhepLayer[]>;

export type WhepEvent =
  | { type: "active"; data: Record<string, never> }
  | { type: "inactive"; data: Record<string, never> }
  | { type: "layers"; data: WhepLayers }
  | { type: "viewercount"; data: { viewercount: number } };

/** The room as a player should see it, read once a second. */
export interface WhepView {
  active: boolean;
  layers: WhepLayers;
  viewers: number;
}

/** A changed bitrate alone is re-sent at most this often: players want the figures, not a second-by-second feed. */
export const LAYERS_REFRESH_MS = 5000;

const shapeOf = (layers: WhepLayers) =>
  Object.entries(layers)
    .map(([m, ls]) => `${m}:${ls.map((l) => `${l.rid}${l.bitrate > 0 ? "+" : "-"}`).join(",")}`)
    .join(";");

const bitratesOf = (layers: WhepLayers) =>
  Object.values(layers)
    .flat()
    .map((l) => l.bitrate)
    .join(",");

export class WhepFeed {
  readonly wanted: ReadonlySet<WhepEventType>;
  #active = false;
  #shape: string | undefined;
  #bitrates: string | undefined;
  #layersAt = -Infinity;
  #viewers: number | undefined;

  constructor(wanted: Iterable<WhepEventType>) {
    this.wanted = new Set(wanted);
  }

  /**
   * What a player is told when its stream (re)connects: "active" if the publication is (never a first "inactive",
   * as the draft says), the layers and the viewer count.
   */
  start(view: WhepView, now: number): WhepEvent[] {
    this.#active = false;
    this.#shape = undefined;
    this.#viewers = undefined;
    return this.update(view, now);
  }

  /** What changed since the last call: the publication's state, the layers (or their bitrates, now and then), the viewer count. */
  update(view: WhepView, now: number): WhepEvent[] {
    const out: WhepEvent[] = [];
    if (view.active !== this.#active) {
      this.#active = view.active;
      this.#push(out, view.active ? { type: "active", data: {} } : { type: "inactive", data: {} });
    }
    const shape = shapeOf(view.layers);
    const bitrates = bitratesOf(view.layers);
    if (shape !== this.#shape || (bitrates !== this.#bitrates && now - this.#layersAt >= LAYERS_REFRESH_MS)) {
      this.#shape = shape;
      this.#bitrates = bitrates;
      this.#layersAt = now;
      this.#push(out, { type: "layers", data: view.layers });
    }
    if (view.viewers !== this.#viewers) {
      this.#viewers = view.viewers;
      this.#push(out, { type: "viewercount", data: { viewercount: view.viewers } });
    }
    return out;
  }

  /** The stream ends with its session: an "inactive" first when the publication ended with it. */
  end(publicationEnded: boolean): WhepEvent[] {
    const out: WhepEvent[] = [];
    if (publicationEnded && this.#active) {
      this.#active = false;
      this.#push(out, { type: "inactive", data: {} });
    }
    return out;
  }

  #push(out: WhepEvent[], e: WhepEvent): void {
    if (this.wanted.has(e.type)) out.push(e);
  }
}
