// The UDP mux's routing and batching, with a recording socket in place of the real one (the real socket is
// exercised end to end by every test that runs the binary).
import { describe, expect, it } from "vitest";
import { SEND_BATCH_PACKETS, UdpMux, stunRequestUsername, type DatagramSocket } from "../../src/rtc/udpMux.ts";

/**
 * Behaves as Bun's socket does on Linux (seen with a real one): a packet to a port nobody listens on is sent, and
 * the ICMP error it brings back fails the next packet, within a sendMany (which then returns early) or as a
 * throwing send.
 */
class RecordingSocket implements DatagramSocket {
  readonly port = 40000;
  delivered: [number, string][] = [];
  calls = 0;
  dead = new Set<number>();
  pendingError = false;
  throwOnSend = false;
  closed = false;
  send(_d: Uint8Array, port: number, address: string): boolean {
    if (this.throwOnSend) throw new Error("EINVAL");
    if (this.pendingError) {
      this.pendingError = false;
      throw new Error("ECONNREFUSED");
    }
    this.#deliver(port, address);
    return true;
  }
  sendMany(packets: readonly (Uint8Array | number | string)[]): number {
    this.calls++;
    if (this.throwOnSend) throw new Error("EINVAL");
    let n = 0;
    for (let i = 0; i < packets.length; i += 3) {
      if (this.pendingError) {
        this.pendingError = false;
        return n;
      }
      this.#deliver(packets[i + 1] as number, packets[i + 2] as string);
      n++;
    }
    return n;
  }
  #deliver(port: number, address: string): void {
    if (this.dead.has(port)) this.pendingError = true;
    else this.delivered.push([port, address]);
  }
  close(): void {
    this.closed = true;
  }
}

/** A STUN binding request with the given USERNAME (no integrity: the mux only routes). */
function bindingRequest(username: string): Buffer {
  const user = Buffer.from(username, "utf8");
  const padded = (user.length + 3) & ~3;
  const msg = Buffer.alloc(20 + 4 + padded);
  msg.writeUInt16BE(0x0001, 0);
  msg.writeUInt16BE(4 + padded, 2);
  msg.writeUInt32BE(0x2112a442, 4);
  msg.writeUInt16BE(0x0006, 20);
  msg.writeUInt16BE(user.length, 22);
  user.copy(msg, 24);
  return msg;
}

const srtp = Buffer.from([0x80, 0x60, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4]);

describe("stunRequestUsername", () => {
  it("reads USERNAME from a binding request and nothing from anything else", () => {
    expect(stunRequestUsername(bindingRequest("abcd:XyZ1"))).toBe("abcd:XyZ1");
    const response = bindingRequest("abcd:x");
    response.writeUInt16BE(0x0101, 0);
    expect(stunRequestUsername(response)).toBeUndefined(); // a success response
    const noCookie = bindingRequest("abcd:x");
    noCookie.writeUInt32BE(0, 4);
    expect(stunRequestUsername(noCookie)).toBeUndefined();
    expect(stunRequestUsername(srtp)).toBeUndefined(); // RTP
    expect(stunRequestUsername(Buffer.from([0x16, 0xfe, 0xfd]))).toBeUndefined(); // DTLS, and too short
    const truncated = bindingRequest("abcd:efgh").subarray(0, 26);
    truncated.writeUInt16BE(6, 2);
    expect(stunRequestUsername(truncated)).toBeUndefined(); // attribute runs past the end
  });
});

describe("UdpMux", () => {
  it("routes a source to the agent its binding request names, then everything from it", () => {
    const mux = new UdpMux(new RecordingSocket());
    const a = mux.createTransport();
    const b = mux.createTransport();
    const got: string[] = [];
    a.onData = (d, addr) => got.push(`a:${d.length}:${addr.join(":")}`);
    b.onData = (d, addr) => got.push(`b:${d.length}:${addr.join(":")}`);
    // werift's ufrags are 4 hex digits; two agents may share one, so the remote half decides.
    mux.bindUsername("1f2e", "clientA", a);
    mux.bindUsername("1f2e", "clientB", b);
    mux.receive(srtp, 5000, "10.0.0.1");
    expect(mux.counters.unknownSource).toBe(1); // nobody claimed 10.0.0.1:5000 yet: dropped
    mux.receive(bindingRequest("1f2e:clientB"), 5000, "10.0.0.1");
    mux.receive(srtp, 5000, "10.0.0.1");
    mux.receive(bindingRequest("1f2e:clientA"), 6000, "10.0.0.2");
    mux.receive(srtp, 6000, "10.0.0.2");
    expect(got).toEqual(["b:36:10.0.0.1:5000", "b:12:10.0.0.1:5000", "a:36:10.0.0.2:6000", "a:12:10.0.0.2:6000"]);
    expect(b.rinfo).toEqual({ address: "10.0.0.1", port: 5000 });
  });

  it("moves a source when a request names another agent (an ICE restart), and forgets closed transports", async () => {
    const mux = new UdpMux(new RecordingSocket());
    const a = mux.createTransport();
    const b = mux.createTransport();
    let toA = 0;
    let toB = 0;
    a.onData = () => toA++;
    b.onData = () => toB++;
    mux.bindUsername("aaaa", "c1", a);
    mux.bindUsername("bbbb", "c2", b);
    mux.receive(bindingRequest("aaaa:c1"), 5000, "127.0.0.1");
    mux.receive(bindingRequest("bbbb:c2"), 5000, "127.0.0.1");
    mux.receive(srtp, 5000, "127.0.0.1");
    expect([toA, toB]).toEqual([1, 2]);
    await b.close();
    await b.close(); // closing twice is harmless
    mux.receive(srtp, 5000, "127.0.0.1");
    mux.receive(bindingRequest("bbbb:c2"), 5000, "127.0.0.1");
    expect([toA, toB]).toEqual([1, 2]);
    expect(mux.counters.unknownSource).toBe(2);
    expect(mux.sources).toBe(0);
  });

  it("claims a source our own check goes to, so its answer comes back to the sender", () => {
    const socket = new RecordingSocket();
    const mux = new UdpMux(socket);
    const a = mux.createTransport();
    let got = 0;
    a.onData = () => got++;
    void a.send(srtp, ["192.0.2.9", 7000]);
    mux.receive(srtp, 7000, "192.0.2.9");
    expect(got).toBe(1);
    expect(socket.delivered).toEqual([[7000, "192.0.2.9"]]);
  });

  it("never lets a throwing peer handler reach the socket", () => {
    const mux = new UdpMux(new RecordingSocket());
    const a = mux.createTransport();
    a.onData = () => {
      throw new Error("bad packet");
    };
    mux.bindUsername("aaaa", "c", a);
    expect(() => mux.receive(bindingRequest("aaaa:c"), 1, "127.0.0.1")).not.toThrow();
  });

  it("batches queued packets into sendMany calls of at most SEND_BATCH_PACKETS", () => {
    const socket = new RecordingSocket();
    const mux = new UdpMux(socket);
    for (let i = 0; i < SEND_BATCH_PACKETS + 5; i++) mux.queue(srtp, 5000 + i, "127.0.0.1");
    expect(socket.calls).toBe(1); // flushed itself when full
    mux.flush();
    expect(socket.calls).toBe(2);
    expect(socket.delivered.length).toBe(SEND_BATCH_PACKETS + 5);
    mux.flush(); // nothing queued: no call
    expect(socket.calls).toBe(2);
  });

  it("hands out one reused buffer per batch slot, and a buffer of its own to a packet too big for one", () => {
    const mux = new UdpMux(new RecordingSocket());
    const first = mux.slot(1300);
    mux.queue(first.subarray(0, 10), 1, "127.0.0.1");
    const second = mux.slot(1300);
    expect(second).not.toBe(first);
    mux.queue(second.subarray(0, 10), 1, "127.0.0.1");
    mux.flush();
    expect(mux.slot(1300)).toBe(first); // free again once the kernel has the batch
    expect(mux.slot(9000).length).toBe(9000);
  });

  it("queueWritten sends the bytes written in the slot, reusing the slot's view only for a packet of the same length", () => {
    const sent: Uint8Array[] = [];
    const socket = new RecordingSocket();
    const sendMany = socket.sendMany.bind(socket);
    socket.sendMany = (packets) => {
      for (let i = 0; i < packets.length; i += 3) sent.push(Uint8Array.from(packets[i] as Uint8Array));
      return sendMany(packets);
    };
    const mux = new UdpMux(socket);
    const lengths = [1228, 1228, 90, 2200];
    for (const [round, length] of lengths.entries()) {
      const buf = mux.slot(length);
      buf.fill(round + 1, 0, length);
      mux.queueWritten(buf, length, 6000, "127.0.0.1");
      mux.flush();
    }
    expect(sent.map((p) => p.length)).toEqual(lengths);
    // Each packet is its own bytes, not a view left over from the packet before it in the same slot.
    expect(sent.map((p) => p.every((b) => b === (p[0] as number)) && p[0])).toEqual([1, 2, 3, 4]);
  });

  it("a viewer that has gone (ICMP unreachable) costs the viewers after it in the batch nothing", () => {
    const socket = new RecordingSocket();
    const mux = new UdpMux(socket);
    socket.dead.add(5003);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 8; i++) mux.queue(srtp, 5000 + i, "127.0.0.1");
      mux.flush();
    }
    // Every live viewer got all three packets; the dead one's went out (and were refused by its host).
    expect(socket.delivered.length).toBe(3 * 7);
    expect(mux.counters.sendDropped).toBe(0);
    // The error a single packet to the dead viewer leaves fails the next single send, which is tried again.
    mux.sendOne(srtp, 5003, "127.0.0.1");
    mux.sendOne(srtp, 6000, "127.0.0.1");
    expect(socket.delivered.at(-1)).toEqual([6000, "127.0.0.1"]);
    expect(mux.counters.sendErrors).toBe(1);
  });

  it("drops and counts what fails twice, and never throws", () => {
    const socket = new RecordingSocket();
    const mux = new UdpMux(socket);
    socket.throwOnSend = true;
    mux.queue(srtp, 1, "127.0.0.1");
    mux.queue(srtp, 2, "127.0.0.1");
    expect(() => mux.flush()).not.toThrow();
    expect(mux.counters.sendDropped).toBe(2);
    expect(() => mux.sendOne(srtp, 1, "127.0.0.1")).not.toThrow();
    expect(mux.counters.sendDropped).toBe(3);
    mux.close();
    mux.close();
    expect(socket.closed).toBe(true);
    socket.throwOnSend = false;
    const calls = socket.calls;
    mux.queue(srtp, 1, "127.0.0.1");
    mux.flush(); // after close: dropped quietly
    expect(socket.calls).toBe(calls);
  });
});
