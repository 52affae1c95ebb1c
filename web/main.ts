// The app's one script: reads the path and shows the home page, the player or the publisher.
import { adoptUrlToken, bootstrap, describeError, ROOM_NAME, type Bootstrap } from "./lib/api.ts";
import { byId, fill, h } from "./lib/dom.ts";
import { mountTokenField, notice, type TokenField } from "./lib/ui.ts";
import { renderCapture, renderCaptures } from "./pages/captures.ts";
import { renderHome } from "./pages/home.ts";
import { renderPlay } from "./pages/play.ts";
import { renderPublish } from "./pages/publish.ts";

export interface PageContext {
  main: HTMLElement;
  boot: Bootstrap;
  token: TokenField;
}

async function start(): Promise<void> {
  adoptUrlToken();
  const main = byId("main");
  let boot: Bootstrap;
  try {
    boot = await bootstrap();
  } catch (err) {
    const retry = h("button", { type: "button", class: "primary", textContent: "Try again" });
    retry.addEventListener("click", () => location.reload());
    fill(main, notice("error", `roomcast cannot load its settings. ${describeError(err, "use this page")} `), retry);
    return;
  }
  const token = mountTokenField(boot.authEnabled);
  const ctx: PageContext = { main, boot, token };

  if (/^\/captures\/?$/.test(location.pathname)) return renderCaptures(ctx);
  const capture = /^\/captures\/([^/]+)\/?$/.exec(location.pathname);
  // The server checks the id (a malformed one is a 404); it is only passed on, encoded again.
  if (capture?.[1]) return renderCapture(ctx, capture[1]);

  const m = /^\/(play|publish)\/([^/]*)\/?$/.exec(location.pathname);
  if (!m) return renderHome(ctx);
  let room = m[2] ?? "";
  try {
    room = decodeURIComponent(room);
  } catch {
    // Left as typed; the check below refuses it.
  }
  if (!ROOM_NAME.test(room)) {
    document.title = "Invalid room name · roomcast";
    fill(
      main,
      h("h1", null, "Invalid room name"),
      notice("error", "Room names are 1 to 64 letters, digits, dashes or underscores."),
      h("p", null, h("a", { href: "/" }, "Back to the rooms")),
    );
    return;
  }
  if (m[1] === "play") renderPlay(ctx, room);
  else renderPublish(ctx, room);
}

void start();
