// Capture ids are made by the server and are the file names of DATA_DIR/captures: a strict pattern, so that no id a
// client sends can name anything but a file directly inside that folder (no separators, no dots, no encodings).
import { randomBytes } from "node:crypto";

/** `20261208T024215Z-1a2b3c4d`: the start time (UTC, to the second), then 32 random bits. */
export const CAPTURE_ID = /^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$/;

export function isCaptureId(id: string): boolean {
  return CAPTURE_ID.test(id);
}

export function newCaptureId(now: Date, random: Uint8Array = randomBytes(4)): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  return `${stamp}-${Buffer.from(random.subarray(0, 4)).toString("hex")}`;
}

/** The file a capture is kept in, relative to the captures folder. */
export function captureFileName(id: string): string {
  return `${id}.json`;
}

/** The id a file of the folder holds, or undefined for any other file (temp files, strays). */
export function idOfFileName(name: string): string | undefined {
  if (!name.endsWith(".json")) return undefined;
  const id = name.slice(0, -".json".length);
  return isCaptureId(id) ? id : undefined;
}
