import type { Context } from "hono";
import { HttpError, invalidSdp, payloadTooLarge, unsupportedMediaType } from "./errors.ts";
import { acceptBundleOnly } from "../rtc/bundleOnly.ts";
import { OFFER_LIMITS } from "../rtc/offerLimits.ts";
import { oversizedOffer, parseOffer, SdpError, type ParsedOffer } from "../rtc/sdp.ts";

/** The reference's hard limit for SDP bodies. */
export const MAX_SDP_BYTES = 1024 * 1024;

const SDP_TYPES = ["application/sdp", "text/plain"];

/**
 * Reads an SDP offer body with the 1 MB limit enforced while streaming (a lying or absent Content-Length does not
 * get past it), then validates it. Throws 413, 415 or 400 (see sdpRefusal).
 */
export async function readOffer(c: Context): Promise<{ sdp: string; offer: ParsedOffer }> {
  const type = c.req.header("content-type")?.split(";")[0]?.trim().toLowerCase();
  if (type !== undefined && type !== "" && !SDP_TYPES.includes(type)) throw unsupportedMediaType();
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > MAX_SDP_BYTES) throw payloadTooLarge();
  const body = c.req.raw.body;
  if (!body) throw invalidSdp();
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_SDP_BYTES) {
      await reader.cancel().catch(() => undefined);
      throw payloadTooLarge();
    }
    // A declared body (at most 1 MB, checked above) past three bytes for each character an offer may have is
    // refused without reading the rest: UTF-8 takes at most 3 bytes per UTF-16 unit. A body of unknown length
    // is read up to the 1 MB limit, so one past it still gets the reference's 413.
    if (declared > 0 && total > OFFER_LIMITS.maxBytes * 3) {
      await reader.cancel().catch(() => undefined);
      throw sdpRefusal(new SdpError(`offer is larger than ${OFFER_LIMITS.maxBytes / 1024} KB`));
    }
    chunks.push(value);
  }
  let sdp: string;
  try {
    sdp = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw invalidSdp();
  }
  // Cheap first: acceptBundleOnly splits the whole body into lines, and no usable offer is this large.
  const tooLarge = oversizedOffer(sdp);
  if (tooLarge) throw sdpRefusal(tooLarge);
  // Before anything reads it: max-bundle offers give their bundled sections port 0 (see rtc/bundleOnly.ts).
  sdp = acceptBundleOnly(sdp);
  try {
    return { sdp, offer: parseOffer(sdp) };
  } catch (err) {
    if (err instanceof SdpError) throw sdpRefusal(err);
    throw err;
  }
}

/**
 * The 400 for an offer parseOffer refused. The detail always rides in `X-Error-Detail`; the body names it too
 * (`invalid SDP: more than 16 media sections`), except for offers that are not SDP or lack what every offer has
 * (empty, no v=0, no audio/video, no ICE credentials or fingerprint): those keep the reference's exact
 * `{"error":"invalid SDP"}`, which clients and tests of the reference compare against.
 */
export function sdpRefusal(err: SdpError): HttpError {
  const headers = { "X-Error-Detail": err.detail };
  return new HttpError(400, err.kind === "missing" ? "invalid SDP" : err.message, headers);
}
