// werift closes a peer without a DTLS close_notify ("todo impl send alert" in its transport), so a viewer would
// only notice the server left when ICE consent expires, 30 s later. This sends the alert itself, encrypted with the
// session's record cipher, so Chromium, libdatachannel and werift peers close at once.
import type { RTCPeerConnection } from "werift";
import { dtlsSocket, type DtlsRecordHeader } from "./weriftInternals.ts";

const CONTENT_TYPE_ALERT = 21;
const ALERT_WARNING = 1;
const ALERT_FATAL = 2;
const CLOSE_NOTIFY = 0;
const USER_CANCELED = 90;

/**
 * How the session ends for the client. "closed": a clean close_notify, which browsers show as a closed DTLS
 * transport while their connectionState stays "connected" until ICE consent fails 5-7 s later. "ended": a fatal
 * user_canceled alert, which Chromium turns into DTLS and connectionState "failed" at once, so a player knows
 * within the second that the stream it watched is gone; a close_notify follows for stacks (werift) that ignore
 * fatal alerts but act on close_notify, while stacks that acted on the first ignore the second.
 */
export type CloseKind = "closed" | "ended";

/** Returns whether an alert was sent. */
export async function sendCloseNotify(pc: RTCPeerConnection, kind: CloseKind = "closed"): Promise<boolean> {
  const alerts = kind === "ended" ? [[ALERT_FATAL, USER_CANCELED], [ALERT_WARNING, CLOSE_NOTIFY]] : [[ALERT_WARNING, CLOSE_NOTIFY]];
  let sent = false;
  for (const transport of pc.dtlsTransports) {
    const sock = dtlsSocket(transport);
    const ctx = sock?.dtls;
    if (!sock?.connected || !ctx || !sock.cipher || !sock.transport) continue;
    for (const alert of alerts) {
      try {
        const header: DtlsRecordHeader = {
          contentType: CONTENT_TYPE_ALERT,
          protocolVersion: ctx.version,
          epoch: ctx.epoch,
          sequenceNumber: ++ctx.recordSequenceNumber,
          contentLen: 2,
        };
        const { fragment } = sock.cipher.encryptPacket({ recordLayerHeader: header, fragment: Buffer.from(alert) });
        const record = Buffer.alloc(13 + fragment.length);
        record[0] = CONTENT_TYPE_ALERT;
        record[1] = ctx.version.major;
        record[2] = ctx.version.minor;
        record.writeUInt16BE(ctx.epoch, 3);
        record.writeUIntBE(header.sequenceNumber, 5, 6);
        record.writeUInt16BE(fragment.length, 11);
        fragment.copy(record, 13);
        await sock.transport.send(record);
        sent = true;
      } catch {
        // Best effort: the peer still learns through consent expiry.
      }
    }
  }
  return sent;
}

/** Closing the socket at once can drop the alert still queued behind it. */
const CLOSE_NOTIFY_FLUSH_MS = 100;

/**
 * Tells the client with a DTLS close_notify, then closes. werift's close() can reject on half-built transports;
 * closing must never throw out of a cascade.
 */
export async function closePeer(pc: RTCPeerConnection, kind: CloseKind = "closed"): Promise<void> {
  if (await sendCloseNotify(pc, kind)) {
    await new Promise((r) => setTimeout(r, CLOSE_NOTIFY_FLUSH_MS));
  }
  await pc.close().catch(() => undefined);
}
