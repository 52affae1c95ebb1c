// ffmpeg's stderr (run with `-loglevel level+info -stats`) as events: progress from the stats line (frame, fps,
// speed), the input stream's codec and size, and error lines. Lines end in \n, the stats line in \r. Pure.

export type FfmpegLevel = "panic" | "fatal" | "error" | "warning" | "info" | "verbose" | "debug" | "trace";

export type StderrEvent =
  | { type: "progress"; frame: number; fps: number; speed: number | undefined }
  | { type: "input"; codec: string; width: number; height: number }
  | { type: "log"; level: FfmpegLevel; text: string };

const LEVEL = /\[(panic|fatal|error|warning|info|verbose|debug|trace)\] ?/;
const PROGRESS = /frame=\s*(\d+)\s+fps=\s*([\d.]+).*?speed=\s*([\d.]+|N\/A)x?/;
const STREAM = /Stream #0:\d+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})/;
/** Longest line kept: a runaway line must not grow the buffer without bound. */
const MAX_LINE = 4096;

export class StderrParser {
  #partial = "";
  /** Between "Input #0" and the output section, stream lines describe the input. */
  #inInput = false;

  push(chunk: string): StderrEvent[] {
    const events: StderrEvent[] = [];
    const text = this.#partial + chunk;
    const parts = text.split(/[\r\n]/);
    this.#partial = (parts.pop() ?? "").slice(-MAX_LINE);
    for (const raw of parts) {
      const line = raw.slice(0, MAX_LINE);
      if (line.trim() !== "") this.#line(line, events);
    }
    return events;
  }

  #line(line: string, events: StderrEvent[]): void {
    const progress = PROGRESS.exec(line);
    if (progress) {
      const speed = progress[3] === "N/A" ? undefined : Number(progress[3]);
      events.push({ type: "progress", frame: Number(progress[1]), fps: Number(progress[2]), speed });
      return;
    }
    if (/Input #0/.test(line)) this.#inInput = true;
    else if (/Output #\d|Stream mapping:/.test(line)) this.#inInput = false;
    else if (this.#inInput) {
      const stream = STREAM.exec(line);
      if (stream) {
        events.push({ type: "input", codec: stream[1] as string, width: Number(stream[2]), height: Number(stream[3]) });
        return;
      }
    }
    const level = LEVEL.exec(line);
    const lvl = (level?.[1] ?? "info") as FfmpegLevel;
    // "[h264 @ 0x55d…] [error] text" → "h264: text": the context tag names the part that complained.
    const tag = /^\[(\w+) @ 0x[0-9a-f]+\]/.exec(line)?.[1];
    const body = (level ? line.slice((level.index ?? 0) + level[0].length) : line).trim();
    events.push({ type: "log", level: lvl, text: tag ? `${tag}: ${body}` : body });
  }
}

export function isErrorLevel(level: FfmpegLevel): boolean {
  return level === "error" || level === "fatal" || level === "panic";
}
