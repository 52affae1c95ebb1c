// One server-sent event (WHATWG HTML, "Server-sent events"): its type and its data as JSON on a single data line
// (JSON.stringify never writes a line break, which is also what the WHEP events extension asks for).

export function formatSse(type: string, data: unknown): string {
  if (/[\r\n]/.test(type)) throw new Error("an event type cannot hold a line break");
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A comment line this often keeps an idle stream open through Bun's idle timeout (10 s) and proxies. */
const KEEPALIVE_MS = 5000;
/** Chunks a client may leave unread before it is dropped: a stalled reader must not grow the server's memory. */
const MAX_QUEUED_CHUNKS = 256;

const encoder = new TextEncoder();

export interface SseWriter {
  /** Queues text; false once the stream is over. */
  write(text: string): boolean;
  /** Ends the stream (idempotent). */
  end(): void;
}

/**
 * The body of an event stream. `start` is called once with its writer and returns what to undo when the stream
 * ends, whichever side ends it: the client going away (`signal`), a reader that stopped reading, or `end()`.
 */
export function sseStream(signal: AbortSignal, start: (writer: SseWriter) => () => void, onDropped?: () => void): ReadableStream<Uint8Array> {
  let end = () => undefined as void;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      let done = false;
      let undo: (() => void) | undefined;
      const writer: SseWriter = {
        write(text) {
          if (done) return false;
          if ((controller.desiredSize ?? 0) < -MAX_QUEUED_CHUNKS) {
            onDropped?.();
            end();
            return false;
          }
          controller.enqueue(encoder.encode(text));
          return true;
        },
        end: () => end(),
      };
      const ping = setInterval(() => writer.write(": ping\n\n"), KEEPALIVE_MS);
      ping.unref?.();
      const onAbort = () => end();
      end = () => {
        if (done) return;
        done = true;
        clearInterval(ping);
        signal.removeEventListener("abort", onAbort);
        undo?.();
        try {
          controller.close();
        } catch {
          // Already closed or errored by the consumer going away.
        }
      };
      // Browsers reconnect after this many ms when the stream drops.
      writer.write("retry: 3000\n\n");
      undo = start(writer);
      if (done) undo();
      if (signal.aborted) end();
      else signal.addEventListener("abort", onAbort);
    },
    cancel() {
      end();
    },
  });
}

export const SSE_HEADERS: Readonly<Record<string, string>> = {
  "Content-Type": "text/event-stream; charset=utf-8",
  "Cache-Control": "no-cache, no-transform",
  // nginx buffers responses unless told not to; events must reach the page at once.
  "X-Accel-Buffering": "no",
};
