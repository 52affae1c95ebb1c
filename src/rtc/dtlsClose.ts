// werift closes a peer without a DTLS close_notify ("todo impl send alert" in its transport), so a viewer would
// only notice the server left when ICE consent expires, 30 s later. This sends the alert itself, encrypted with the
// session's record cipher, so Chromium, libdatachannel and werift peers close at once.
import type { RTCPeerConnection } from "werift";

/** The werift internals this needs; checked at run time, so a werift change degrades to the old behaviour. */
interface DtlsSocketLike {
  connected?: boolean;
  dtls?: { version: { major: number; minor: number }; epoch: number; recordSequenceNumber: number };
  cipher?: { encryptPacket(pkt: { recordLayerHeader: RecordHeader; fragment: Buffer }): { fragment: Buffer } };
  transport?: { send(buf: Buffer): Promise<void> | void };
}

interface RecordHeader {
  contentType: number;
  protocolVersion: { major: number; minor: number };
  epoch: number;
  sequenceNumber: number;
  contentLen: number;
}

const CONTENT_TYPE_ALERT = 21;
const ALERT_WARNING = 1;
const CLOSE_NOTIFY = 0;

/** Returns whether an alert was sent. */
export async function sendCloseNotify(pc: RTCPeerConnection): Promise<boolean> {
  let sent = false;
  for (const transport of pc.dtlsTransports) {
    // werift does not expose its DTLS socket in its types.
    const sock = (transport as unknown as { dtls?: DtlsSocketLike }).dtls;
    const ctx = sock?.dtls;
    if (!sock?.connected || !ctx || !sock.cipher || !sock.transport) continue;
    try {
      const header: RecordHeader = {
        contentType: CONTENT_TYPE_ALERT,
        protocolVersion: ctx.version,
        epoch: ctx.epoch,
        sequenceNumber: ++ctx.recordSequenceNumber,
        contentLen: 2,
      };
      const { fragment } = sock.cipher.encryptPacket({ recordLayerHeader: header, fragment: Buffer.from([ALERT_WARNING, CLOSE_NOTIFY]) });
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
  return sent;
}
