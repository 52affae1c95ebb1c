// Home: the live rooms (updated from the events feed), a form to watch or publish any room, and the recordings.
import { ApiError, authHeaders, describeError, errorFrom, getJson, getToken, ROOM_NAME, type Recording } from "../lib/api.ts";
import { fill, h } from "../lib/dom.ts";
import { openFeed, type RoomStats } from "../lib/feed.ts";
import { bitrate, bytes, codecLabel, dateTime, since } from "../lib/format.ts";
import { notice } from "../lib/ui.ts";
import type { PageContext } from "../main.ts";

/** Extensions a browser's <video>/<audio> can play; IVF and raw H264 are for download only. */
const PLAYABLE: Record<string, "video" | "audio"> = { webm: "video", mkv: "video", mp4: "video", ogg: "audio", opus: "audio", m4a: "audio" };

export function renderHome(ctx: PageContext): void {
  document.title = "roomcast";
  const rooms = new Map<string, RoomStats>();
  let refused = false;
  const cards = new Map<string, { li: HTMLLIElement; update(s: RoomStats): void }>();

  const count = h("span", { class: "count", attrs: { "aria-live": "polite" } });
  const feedState = h("div", { class: "feed-state" });
  const list = h("ul", { class: "rooms", id: "room-list", attrs: { "aria-label": "Live rooms" } });
  const empty = h(
    "div",
    { class: "empty", id: "rooms-empty" },
    h("p", { class: "empty-title" }, "Nobody is live right now."),
    h(
      "p",
      null,
      "Start a room with the form above, or from OBS Studio: Settings → Stream → Service ",
      h("strong", null, "WHIP"),
      ", Server ",
      h("code", null, `${location.origin}/api/whip/publish/ROOM`),
      ". Rooms appear here the moment they go live.",
    ),
  );

  // Watch or publish a room by name.
  const nameInput = h("input", {
    id: "room-name",
    name: "room",
    required: true,
    maxLength: 64,
    pattern: "[A-Za-z0-9_\\-]{1,64}",
    placeholder: "room name",
    autocomplete: "off",
    spellcheck: false,
    attrs: { "aria-describedby": "room-name-hint" },
  });
  const goForm = h(
    "form",
    { class: "go-form", attrs: { "aria-label": "Open a room" } },
    h("label", { htmlFor: "room-name", textContent: "Open a room" }),
    h(
      "div",
      { class: "go-row" },
      nameInput,
      h("button", { type: "submit", class: "primary", value: "play", textContent: "Watch" }),
      h("button", { type: "submit", class: "secondary", value: "publish", textContent: "Go live" }),
    ),
    h("p", { class: "hint", id: "room-name-hint" }, "Any name of letters, digits, - and _ (up to 64). Go live creates the room."),
  );
  goForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const name = nameInput.value.trim();
    if (!ROOM_NAME.test(name)) {
      nameInput.setCustomValidity("Use 1 to 64 letters, digits, - or _.");
      nameInput.reportValidity();
      return;
    }
    const submitter = (e as SubmitEvent).submitter as HTMLButtonElement | null;
    location.href = `/${submitter?.value === "publish" ? "publish" : "play"}/${encodeURIComponent(name)}`;
  });
  nameInput.addEventListener("input", () => nameInput.setCustomValidity(""));

  const recordsSection = ctx.boot.recordEnabled ? recordings(ctx) : undefined;

  fill(
    ctx.main,
    h("div", { class: "hero-title" }, h("h1", null, "Live rooms"), count),
    goForm,
    h("section", { class: "rooms-section", attrs: { "aria-label": "Live rooms" } }, feedState, list, empty),
    recordsSection?.section,
  );

  function card(name: string): { li: HTMLLIElement; update(s: RoomStats): void } {
    const badge = h("span", { class: "badge" });
    const viewers = h("dd");
    const rate = h("dd");
    const live = h("dd");
    const codecs = h("dd");
    const watch = h("a", { class: "button primary", href: `/play/${encodeURIComponent(name)}`, textContent: "Watch" });
    watch.setAttribute("aria-label", `Watch ${name}`);
    const li = h(
      "li",
      { class: "room-card", dataset: { room: name } },
      h("div", { class: "room-head" }, h("h2", { class: "room-name" }, h("a", { href: `/play/${encodeURIComponent(name)}` }, name)), badge),
      h(
        "dl",
        { class: "facts" },
        h("div", null, h("dt", null, "Viewers"), viewers),
        h("div", null, h("dt", null, "Bitrate"), rate),
        h("div", null, h("dt", null, "Live for"), live),
        h("div", null, h("dt", null, "Codecs"), codecs),
      ),
      h("div", { class: "room-actions" }, watch),
    );
    return {
      li,
      update(s) {
        const state = !s.hasPublisher ? "ended" : s.publisherState === "connected" ? "live" : s.publisherState === "disconnected" ? "unstable" : "starting";
        badge.className = `badge badge-${state}`;
        badge.textContent = { live: "Live", starting: "Starting", unstable: "Reconnecting", ended: "Ended" }[state];
        viewers.textContent = String(s.viewers);
        rate.textContent = bitrate(s.bitrate);
        live.textContent = since(s.liveSince);
        codecs.textContent = s.tracks.map((t) => codecLabel(t.codec)).join(" · ") || "—";
      },
    };
  }

  /** Updates cards in place (a focused link keeps its focus); new rooms go in at their sorted place. */
  function render(): void {
    for (const [name, c] of cards) {
      if (!rooms.has(name)) {
        c.li.remove();
        cards.delete(name);
      }
    }
    const names = [...rooms.keys()].sort((a, b) => a.localeCompare(b));
    names.forEach((name, i) => {
      const s = rooms.get(name);
      if (!s) return;
      let c = cards.get(name);
      if (!c) {
        c = card(name);
        cards.set(name, c);
        const next = names.slice(i + 1).map((n) => cards.get(n)?.li).find((li) => li !== undefined);
        list.insertBefore(c.li, next ?? null);
      }
      c.update(s);
    });
    count.textContent = rooms.size > 0 ? `${rooms.size} live` : "";
    // Refused, the page does not know whether anyone is live: say nothing rather than "nobody".
    empty.hidden = rooms.size > 0 || refused;
    list.hidden = rooms.size === 0;
  }
  render();

  openFeed(
    {},
    {
      rooms(all) {
        rooms.clear();
        for (const r of all) rooms.set(r.room, r);
        render();
      },
      opened(r) {
        rooms.set(r.room, r);
        render();
        // Its recording starts now: list it (in progress).
        recordsSection?.refreshSoon();
      },
      closed(name) {
        rooms.delete(name);
        render();
        // The room's recording is finished now: show it.
        recordsSection?.refreshSoon();
      },
      viewers(name, n) {
        const r = rooms.get(name);
        if (r) {
          r.viewers = n;
          render();
        }
      },
      stats(s) {
        rooms.set(s.room, s);
        render();
      },
      status(st, err) {
        // Hidden tab: the feed resumes, with a fresh room list, when the tab is shown again.
        if (st === "paused") return;
        refused = st === "refused";
        render();
        if (st === "refused") {
          ctx.token.ask(describeError(err, "see the live rooms"));
          fill(feedState, notice("error", "The live rooms show here once the server accepts your token."));
        } else if (st === "retrying") {
          fill(feedState, notice("warn", "Lost the connection to the server; reconnecting…"));
        } else {
          fill(feedState);
          ctx.token.accepted();
        }
      },
    },
  );
}

/** The recordings list: play in the page, download, delete (admin token). */
function recordings(ctx: PageContext): { section: HTMLElement; refreshSoon(): void } {
  const status = h("div", { class: "records-status" });
  const list = h("ul", { class: "records", id: "record-list", attrs: { "aria-label": "Recordings" } });
  const refresh = h("button", { type: "button", class: "ghost small", textContent: "Refresh" });
  const section = h(
    "section",
    { class: "records-section", id: "recordings", attrs: { "aria-labelledby": "records-title" } },
    h("div", { class: "section-head" }, h("h2", { id: "records-title" }, "Recordings"), refresh),
    status,
    list,
  );
  let timer: ReturnType<typeof setTimeout> | undefined;

  const fileUrl = (r: Recording) => {
    // A link cannot carry an Authorization header; the token goes in the query as for the events feed.
    const token = getToken();
    return token && ctx.boot.authEnabled ? `${r.url}${r.url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : r.url;
  };

  /** `playing`: a player already open for this file, kept across a refresh of the list. */
  function row(r: Recording, playing?: HTMLMediaElement): HTMLLIElement {
    const ext = r.name.split(".").pop()?.toLowerCase() ?? "";
    const kind = PLAYABLE[ext];
    const busy = r.inProgress === true;
    const playerSlot = h("div", { class: "record-player" });
    const actions = h("div", { class: "record-actions" });
    if (kind) {
      const play = h("button", { type: "button", class: "secondary small", textContent: "Play" });
      play.setAttribute("aria-label", `Play ${r.name}`);
      play.addEventListener("click", () => {
        if (playerSlot.firstChild) {
          fill(playerSlot);
          play.textContent = "Play";
          return;
        }
        const media = h(kind, { controls: true, autoplay: true, preload: "metadata", src: fileUrl(r) });
        media.addEventListener("error", () => {
          // The row may have been rebuilt since: the notice goes where the player is now.
          const slot = media.parentElement;
          if (slot) fill(slot, notice("warn", `This browser cannot play ${r.name}. Download it and open it in VLC or ffplay.`));
        });
        fill(playerSlot, media);
        play.textContent = "Close";
      });
      actions.append(play);
      if (playing) {
        fill(playerSlot, playing);
        play.textContent = "Close";
      }
    }
    const download = h("a", { class: "button ghost small", href: fileUrl(r), download: r.name, textContent: "Download" });
    download.setAttribute("aria-label", `Download ${r.name}`);
    actions.append(download);
    if (!busy) {
      const del = h("button", { type: "button", class: "danger small", textContent: "Delete" });
      del.setAttribute("aria-label", `Delete ${r.name}`);
      del.addEventListener("click", () => void remove(r, li));
      actions.append(del);
    }
    const li = h(
      "li",
      { class: "record", dataset: { name: r.name } },
      h(
        "div",
        { class: "record-info" },
        h("span", { class: "record-name" }, r.name),
        h("span", { class: "record-meta" }, `${bytes(r.size)} · ${dateTime(r.modTime)}`, busy ? " · recording…" : "", kind ? "" : " · download to play"),
      ),
      actions,
      playerSlot,
    );
    return li;
  }

  async function remove(r: Recording, li: HTMLLIElement): Promise<void> {
    if (!getToken()) {
      const text = "Deleting a recording needs the admin token. Enter it in the Token field, then delete again.";
      fill(status, notice("warn", text));
      ctx.token.ask(text);
      return;
    }
    if (!confirm(`Delete ${r.name}? This cannot be undone.`)) return;
    try {
      const res = await fetch(`/api/records/${encodeURIComponent(r.name)}`, { method: "DELETE", headers: authHeaders() });
      if (!res.ok) throw await errorFrom(res);
      li.remove();
      fill(status, notice("ok", `Deleted ${r.name}.`));
    } catch (err) {
      const text =
        err instanceof ApiError && (err.status === 401 || err.status === 403)
          ? "Only the admin token can delete recordings. Enter the admin token in the Token field."
          : err instanceof ApiError && err.status === 409
            ? `${r.name} is still being recorded; delete it once the room has ended.`
            : describeError(err, "delete recordings");
      fill(status, notice("error", text));
    }
  }

  async function load(): Promise<void> {
    try {
      const records = await getJson<Recording[]>("/api/records");
      // The list is reloaded when a room opens or closes; a recording someone is watching keeps playing. Moved
      // within this task, the media element is never out of the document long enough to pause.
      const playing = new Map<string, HTMLMediaElement>();
      for (const media of list.querySelectorAll<HTMLMediaElement>(".record-player video, .record-player audio")) {
        const name = media.closest<HTMLElement>(".record")?.dataset.name;
        if (name !== undefined) playing.set(name, media);
      }
      fill(list, ...records.map((r) => row(r, playing.get(r.name))));
      fill(status, records.length === 0 ? h("p", { class: "empty" }, "No recordings yet. Every room is recorded while it is live.") : "");
    } catch (err) {
      fill(status, notice("error", describeError(err, "see the recordings")));
    }
  }
  refresh.addEventListener("click", () => void load());
  void load();
  return {
    section,
    refreshSoon() {
      clearTimeout(timer);
      // The server finishes (and may remux) a recording just after the room closes.
      timer = setTimeout(() => void load(), 1500);
    },
  };
}
