// Pieces every page shows: the token field in the header and message boxes.
import { getToken, onTokenChange, setToken } from "./api.ts";
import { byId, fill, h, icon } from "./dom.ts";
import { BitrateGraph } from "./graph.ts";

export type NoticeKind = "info" | "warn" | "error" | "ok";

/** A message box; errors are announced at once to screen readers, the rest politely. */
export function notice(kind: NoticeKind, ...text: (string | Node)[]): HTMLDivElement {
  return h("div", { class: `notice notice-${kind}`, attrs: { role: kind === "error" ? "alert" : "status" } }, ...text);
}

export interface TokenField {
  /** Opens the field with a reason and puts the cursor in it. */
  ask(reason: string): void;
  /** Closes the field and clears its reason (the token was accepted). */
  accepted(): void;
}

/**
 * The token field: a button in the header that opens a small form. The token is kept in sessionStorage (this tab
 * only, gone when it closes). Shown open at start when the server wants a token and this tab has none.
 */
export function mountTokenField(authEnabled: boolean): TokenField {
  const nav = byId("nav");
  const slot = byId("token-slot");
  const input = h("input", {
    id: "token-input",
    type: "password",
    autocomplete: "off",
    spellcheck: false,
    placeholder: "token",
    value: getToken(),
    attrs: { "aria-describedby": "token-hint" },
  });
  const reason = h("p", { class: "token-reason", id: "token-reason", attrs: { role: "alert" } });
  const show = h("button", { type: "button", class: "ghost small", textContent: "Show" });
  show.addEventListener("click", () => {
    input.type = input.type === "password" ? "text" : "password";
    show.textContent = input.type === "password" ? "Show" : "Hide";
  });
  const clear = h("button", { type: "button", class: "ghost small", textContent: "Forget" });
  const form = h(
    "form",
    { class: "token-form", id: "token-form", hidden: true, attrs: { "aria-label": "Access token" } },
    reason,
    h(
      "div",
      { class: "token-row" },
      h("label", { htmlFor: "token-input", textContent: "Token" }),
      input,
      show,
      h("button", { type: "submit", class: "primary small", textContent: "Use token" }),
      clear,
    ),
    h("p", { class: "hint", id: "token-hint" }, "The token you were given for this server or room. Kept in this tab only."),
  );
  const toggle = h("button", {
    type: "button",
    class: "token-toggle",
    id: "token-toggle",
    attrs: { "aria-controls": "token-form", "aria-expanded": "false" },
  });
  const render = () => {
    const has = getToken() !== "";
    const lock = icon("lock");
    lock.classList.add(has ? "lock-on" : "lock-off");
    fill(toggle, lock, has ? "Token set" : "Token");
    toggle.hidden = !authEnabled && !has;
  };
  const open = (yes: boolean) => {
    form.hidden = !yes;
    toggle.setAttribute("aria-expanded", String(yes));
  };
  toggle.addEventListener("click", () => {
    open(form.hidden !== false);
    if (!form.hidden) input.focus();
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    fill(reason);
    setToken(input.value.trim());
    open(false);
  });
  clear.addEventListener("click", () => {
    input.value = "";
    setToken("");
    input.focus();
  });
  form.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      open(false);
      toggle.focus();
    }
  });
  onTokenChange((t) => {
    if (input.value !== t) input.value = t;
    render();
  });
  render();
  nav.append(toggle);
  slot.append(form);
  if (authEnabled && !getToken()) open(true);
  return {
    ask(text) {
      fill(reason, text);
      open(true);
      input.focus();
      input.select();
    },
    accepted() {
      fill(reason);
      if (getToken()) open(false);
    },
  };
}

/** A hidden panel of labelled figures with a bitrate graph under them, as the player and the publisher show. */
export function statsPanel<K extends string>(
  attrs: { class: string; id: string },
  labels: Record<K, string>,
): { box: HTMLDivElement; cells: Record<K, HTMLElement>; graph: BitrateGraph } {
  const cells = {} as Record<K, HTMLElement>;
  const rows: HTMLElement[] = [];
  for (const key of Object.keys(labels) as K[]) {
    const cell = h("dd");
    cells[key] = cell;
    rows.push(h("div", null, h("dt", null, labels[key]), cell));
  }
  const graph = new BitrateGraph(180);
  const box = h("div", { ...attrs, hidden: true }, h("dl", { class: "stats-grid" }, ...rows), graph.canvas);
  return { box, cells, graph };
}
