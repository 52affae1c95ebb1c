// The server's JSON API as the pages use it: the token kept for this tab, /api/bootstrap, and errors turned into
// sentences a person can act on.

export interface Bootstrap {
  authEnabled: boolean;
  recordEnabled: boolean;
  iceServers: RTCIceServer[];
  version?: string;
}

export interface Recording {
  name: string;
  size: number;
  modTime: string;
  url: string;
  room?: string;
  /** Still being written: such a file cannot be deleted yet. */
  inProgress?: boolean;
}

export const ROOM_NAME = /^[A-Za-z0-9_-]{1,64}$/;

const TOKEN_KEY = "roomcast.token";

/** An answer that was not 2xx; `message` is the server's `{"error"}` text when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterSec?: number,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

type TokenListener = (token: string) => void;
const tokenListeners = new Set<TokenListener>();

/**
 * Takes `?token=` from the address into this tab's storage and out of the address bar, so it is neither shown on
 * screen nor kept in the history where a shared link or screenshot would carry it.
 */
export function adoptUrlToken(): void {
  const url = new URL(location.href);
  const t = url.searchParams.get("token");
  if (t === null) return;
  setToken(t.trim());
  url.searchParams.delete("token");
  history.replaceState(history.state, "", url.pathname + url.search + url.hash);
}

export function getToken(): string {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    // Storage can be disabled (privacy modes); the token then lives for this page only.
    return memoryToken;
  }
}
let memoryToken = "";

export function setToken(token: string): void {
  memoryToken = token;
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // See getToken.
  }
  for (const l of [...tokenListeners]) l(token);
}

export function onTokenChange(listener: TokenListener): () => void {
  tokenListeners.add(listener);
  return () => tokenListeners.delete(listener);
}

export function authHeaders(token = getToken()): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** Reads an error answer into an ApiError. */
export async function errorFrom(res: Response): Promise<ApiError> {
  let message = res.statusText || `HTTP ${res.status}`;
  try {
    const body = (await res.json()) as { error?: unknown };
    if (typeof body.error === "string") message = body.error;
  } catch {
    // Not JSON: keep the status text.
  }
  const retry = Number(res.headers.get("Retry-After"));
  return new ApiError(res.status, message, Number.isFinite(retry) && retry > 0 ? retry : undefined);
}

export async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { Accept: "application/json", ...authHeaders() } });
  if (!res.ok) throw await errorFrom(res);
  return (await res.json()) as T;
}

let bootstrapOnce: Promise<Bootstrap> | undefined;
export function bootstrap(): Promise<Bootstrap> {
  bootstrapOnce ??= getJson<Bootstrap>("/api/bootstrap").catch((err: unknown) => {
    bootstrapOnce = undefined;
    throw err;
  });
  return bootstrapOnce;
}

/** Whether the error is about the token (and so the token field should get the person's attention). */
export function isAuthError(err: unknown): boolean {
  return err instanceof ApiError && (err.status === 401 || (err.status === 403 && err.message.startsWith("forbidden")));
}

/** A sentence for the person in front of the page. `doing` is e.g. "watch this room". */
export function describeError(err: unknown, doing: string): string {
  if (err instanceof ApiError) {
    const detail = err.message.replace(/^forbidden:\s*/, "");
    switch (err.status) {
      case 401:
        return getToken()
          ? `The token was not accepted: it is wrong or has expired. Enter the right token to ${doing}.`
          : `This server needs a token to ${doing}. Enter the token you were given in the Token field.`;
      case 403:
        if (err.message === "subscriber limit reached") return "This room is full: it has as many viewers as the server allows. Try again later.";
        return `Your token does not allow you to ${doing} (${detail}).`;
      case 404:
        return err.message === "no active publisher in room" ? "Nobody is publishing in this room right now." : `Not found (${detail}).`;
      case 409:
        return "Someone is already publishing in this room. Pick another room name, or stop the other publisher first.";
      case 429:
        return `Too many requests: the server asks to wait${err.retryAfterSec ? ` ${err.retryAfterSec} s` : ""} and try again.`;
      case 400:
        return `The server refused the request: ${detail}.`;
      case 503:
        return `The server cannot take this right now (${detail}).`;
      default:
        return `The server answered ${err.status}: ${detail}.`;
    }
  }
  if (err instanceof TypeError) return "The server cannot be reached. Check the connection; this page keeps trying.";
  return err instanceof Error ? err.message : String(err);
}
