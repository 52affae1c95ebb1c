// Numbers as a person reads them.

export function bitrate(bps: number): string {
  if (!Number.isFinite(bps) || bps <= 0) return "0 kb/s";
  if (bps >= 1_000_000) return `${(bps / 1_000_000).toFixed(bps >= 10_000_000 ? 0 : 1)} Mb/s`;
  return `${Math.round(bps / 1000)} kb/s`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

export function percent(fraction: number): string {
  if (!Number.isFinite(fraction) || fraction <= 0) return "0%";
  return fraction < 0.001 ? "<0.1%" : `${(fraction * 100).toFixed(1)}%`;
}

/** "12 s", "5 min", "2 h 10 min" since the given time. */
export function since(iso: string, now = Date.now()): string {
  const sec = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (sec < 60) return `${sec} s`;
  const min = Math.floor(sec / 60);
  if (min < 60) return `${min} min`;
  return `${Math.floor(min / 60)} h ${min % 60} min`;
}

export function dateTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** "video/VP8" → "VP8", "audio/opus" → "Opus". */
export function codecLabel(mimeType: string): string {
  const name = mimeType.split("/")[1] ?? mimeType;
  return name.toLowerCase() === "opus" ? "Opus" : name.toUpperCase();
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
