// The player's quality picker, without the DOM: which layers this session offers (WHEP layer extension), which
// one the person chose (kept across sessions), whether the session has been pinned to it, and each layer's
// bitrate from the events feed for the labels.
import { bitrate } from "../lib/format.ts";

export interface LayerOption {
  /** "" is automatic: the server follows the viewer's bandwidth. */
  value: string;
  label: string;
}

export class LayerPicker {
  /** Layer names this session offers; empty until it has said, and after it ends. */
  #offered: string[] = [];
  #chosen: string | undefined;
  #pinned = false;
  #rates = new Map<string, number>();

  /** The layers this session offers now. */
  get names(): readonly string[] {
    return this.#offered;
  }

  /** Shown only when there is something to choose between. */
  get visible(): boolean {
    return this.#offered.length >= 2;
  }

  /** What the person picked; undefined = automatic. It outlives sessions: the next one switches to it again. */
  get chosen(): string | undefined {
    return this.#chosen;
  }

  /** Whether this session was moved to a layer (the layer extension has no way back to automatic). */
  get pinned(): boolean {
    return this.#pinned;
  }

  /** The option the picker shows as selected. */
  get selected(): string {
    return this.#chosen !== undefined && this.#offered.includes(this.#chosen) ? this.#chosen : "";
  }

  get options(): LayerOption[] {
    if (!this.visible) return [];
    return [
      { value: "", label: "Auto" },
      ...this.#offered.map((name) => {
        const rate = this.#rates.get(name) ?? 0;
        return { value: name, label: rate > 0 ? `${name} · ${bitrate(rate)}` : name };
      }),
    ];
  }

  /**
   * A new session's layers. Returns the layer to switch it to at once (the person's earlier choice, when this
   * session has it), else undefined.
   */
  offer(names: readonly string[]): string | undefined {
    this.#offered = [...new Set(names)];
    this.#pinned = false;
    if (!this.visible) return undefined;
    return this.selected || undefined;
  }

  /** The feed's per-layer bitrates for the room's video track. */
  setRates(layers: readonly { name: string; bitrate: number }[]): void {
    this.#rates = new Map(layers.map((l) => [l.name, l.bitrate]));
  }

  /** The person picked `value` ("" = automatic). */
  choose(value: string): void {
    this.#chosen = value === "" ? undefined : value;
  }

  /** The server moved this session to the chosen layer. */
  switched(): void {
    this.#pinned = true;
  }

  /** The session ended: nothing offered, nothing pinned; the choice stays for the next one. */
  reset(): void {
    this.#offered = [];
    this.#pinned = false;
  }
}
