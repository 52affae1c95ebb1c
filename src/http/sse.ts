// One server-sent event (WHATWG HTML, "Server-sent events"): its type and its data as JSON on a single data line
// (JSON.stringify never writes a line break, which is also what the WHEP events extension asks for).

export function formatSse(type: string, data: unknown): string {
  if (/[\r\n]/.test(type)) throw new Error("an event type cannot hold a line break");
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}
