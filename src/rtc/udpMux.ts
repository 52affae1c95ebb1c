// Every peer's ICE, DTLS and SRTP on one UDP socket. werift opens a socket per peer and sends through node:dgram,
// which costs about 8 µs per packet under Bun and allows no batching across viewers. With one socket the server
// sends a forwarded packet to all its viewers in one sendMany (sendmmsg) call, and an operator opens one port.
//
// Datagrams are demultiplexed by their source address. A source seen for the first time is claimed by a STUN
// binding request whose USERNAME ("ourUfrag:theirUfrag", RFC 8445 §7.2.2) names one of our ICE agents; a request
// naming another agent moves the source (an ICE restart, or a client that reused a port). Anything else from an
// unknown source is dropped and counted, as an ICE-lite server would. The whole USERNAME is the key: werift's own
// ufrags are only 4 hex digits, so two agents of a busy server share one often enough.

/** The socket the mux owns: under Bun a Bun.udpSocket (see platform/bun.ts), in tests anything with this shape. */
export interface DatagramSocket {
  readonly port: number;
  send(data: Uint8Array, port: number, address: string): boolean;
  /** [data, port, address, data, port, address, …]; returns how many packets the kernel took. */
  sendMany(packets: readonly (Uint8Array | number | string)[]): number;
  close(): void;
}

export interface MuxCounters {
  /** Datagrams from a source no ICE agent has claimed. */
  unknownSource: number;
  /** Packets the kernel would not take (send buffer full): dropped, never queued. */
  sendDropped: number;
  sendErrors: number;
  /** Errors the socket reported on receive (ICMP unreachable from clients that left). */
  socketErrors: number;
}

const textDecoder = new TextDecoder();
const RESOLVED: Promise<void> = Promise.resolve();
const STUN_COOKIE = 0x2112a442;
const STUN_BINDING_REQUEST = 0x0001;
const STUN_ATTR_USERNAME = 0x0006;
/** Packets per sendMany call: bounds the array the batch keeps and the latency of the first packet in it. */
export const SEND_BATCH_PACKETS = 64;
/** Each batch slot's buffer: a full-size Ethernet datagram with room to spare; larger packets get their own. */
const SLOT_BYTES = 2048;

/** A STUN binding request's USERNAME, or undefined for anything else. */
export function stunRequestUsername(data: Uint8Array): string | undefined {
  if (data.length < 20 || (data[0] as number) > 1) return undefined;
  const type = ((data[0] as number) << 8) | (data[1] as number);
  if (type !== STUN_BINDING_REQUEST) return undefined;
  const cookie = (((data[4] as number) << 24) | ((data[5] as number) << 16) | ((data[6] as number) << 8) | (data[7] as number)) >>> 0;
  if (cookie !== STUN_COOKIE) return undefined;
  const end = Math.min(data.length, 20 + (((data[2] as number) << 8) | (data[3] as number)));
  let at = 20;
  while (at + 4 <= end) {
    const attr = ((data[at] as number) << 8) | (data[at + 1] as number);
    const len = ((data[at + 2] as number) << 8) | (data[at + 3] as number);
    const value = at + 4;
    if (value + len > end) return undefined;
    if (attr === STUN_ATTR_USERNAME) return len === 0 ? undefined : textDecoder.decode(data.subarray(value, value + len));
    at = value + ((len + 3) & ~3);
  }
  return undefined;
}

type OnData = (data: Buffer, addr: [string, number]) => void;

/**
 * What werift's StunProtocol sees as its UDP transport (the shape of werift's own UdpTransport). It has no
 * socket: it sends through the mux and receives what the mux routes to it.
 */
export class MuxTransport {
  readonly type = "udp";
  readonly socketType = "udp4";
  readonly addressFamily = 4;
  closed = false;
  onData: OnData = () => undefined;
  rinfo: { address: string; port: number } | undefined;
  readonly #mux: UdpMux;

  constructor(mux: UdpMux) {
    this.#mux = mux;
  }

  get mux(): UdpMux {
    return this.#mux;
  }

  get address(): { address: string; port: number; family: string } {
    return { address: "0.0.0.0", port: this.#mux.port, family: "IPv4" };
  }

  get host(): string {
    return "0.0.0.0";
  }

  get port(): number {
    return this.#mux.port;
  }

  /** werift awaits this and calls .catch on it; a shared settled promise costs nothing per packet. */
  send = (data: Uint8Array, addr?: [string, number]): Promise<void> => {
    if (this.closed) return RESOLVED;
    const address = addr?.[0] ?? this.rinfo?.address;
    const port = addr?.[1] ?? this.rinfo?.port;
    if (address === undefined || port === undefined) return RESOLVED;
    // Our own checks go out before the client's reach us; their answers must come back here.
    this.#mux.claimIfUnknown(address, port, this);
    this.#mux.sendOne(data, port, address);
    return RESOLVED;
  };

  deliver(data: Buffer, address: string, port: number): void {
    if (this.closed) return;
    const rinfo = this.rinfo;
    if (rinfo === undefined || rinfo.address !== address || rinfo.port !== port) this.rinfo = { address, port };
    this.onData(data, [address, port]);
  }

  close = (): Promise<void> => {
    if (!this.closed) {
      this.closed = true;
      this.#mux.forget(this);
    }
    return RESOLVED;
  };
}

export class UdpMux {
  readonly counters: MuxCounters = { unknownSource: 0, sendDropped: 0, sendErrors: 0, socketErrors: 0 };
  readonly #socket: DatagramSocket;
  readonly #bySource = new Map<string, MuxTransport>();
  readonly #byUsername = new Map<string, MuxTransport>();
  /** Packets waiting for the next flush, as sendMany wants them: data, port, address. */
  readonly #batch: (Uint8Array | number | string)[] = [];
  /**
   * One buffer per batch slot, reused: sendMany copies into the kernel before it returns, so after a flush every
   * slot is free again and forwarding allocates no packet buffers of its own.
   */
  readonly #slots: Buffer[] = Array.from({ length: SEND_BATCH_PACKETS }, () => Buffer.alloc(SLOT_BYTES));
  /**
   * Each slot's last view, kept for the next packet of the same length in that slot: the copies of one packet to
   * all viewers are one length, so a view per packet per viewer (the one allocation forwarding still made) is rare.
   */
  readonly #views: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(SEND_BATCH_PACKETS).fill(undefined);
  #closed = false;

  constructor(socket: DatagramSocket) {
    this.#socket = socket;
  }

  get port(): number {
    return this.#socket.port;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get sources(): number {
    return this.#bySource.size;
  }

  createTransport(): MuxTransport {
    return new MuxTransport(this);
  }

  /** An ICE agent's credentials: binding requests with USERNAME "localUfrag:remoteUfrag" reach this transport. */
  bindUsername(localUfrag: string, remoteUfrag: string, transport: MuxTransport): void {
    if (!transport.closed) this.#byUsername.set(`${localUfrag}:${remoteUfrag}`, transport);
  }

  /** Routes one datagram from the socket. Never throws: a bad packet costs only itself. */
  receive(data: Buffer, port: number, address: string): void {
    const key = `${address}:${port}`;
    let transport = this.#bySource.get(key);
    const first = data[0] as number;
    // STUN starts with 0 or 1 (RFC 7983); DTLS and SRTP never do, so only STUN pays for the parse.
    if (first < 2) {
      const username = stunRequestUsername(data);
      const named = username === undefined ? undefined : this.#byUsername.get(username);
      if (named !== undefined && named !== transport && !named.closed) {
        this.#bySource.set(key, named);
        transport = named;
      }
    }
    if (transport === undefined) {
      this.counters.unknownSource++;
      return;
    }
    try {
      transport.deliver(data, address, port);
    } catch {
      // werift catches its own errors; anything left is one peer's bad packet, not the socket's problem.
    }
  }

  claimIfUnknown(address: string, port: number, transport: MuxTransport): void {
    const key = `${address}:${port}`;
    if (!this.#bySource.has(key)) this.#bySource.set(key, transport);
  }

  forget(transport: MuxTransport): void {
    for (const [k, t] of this.#bySource) if (t === transport) this.#bySource.delete(k);
    for (const [k, t] of this.#byUsername) if (t === transport) this.#byUsername.delete(k);
  }

  /**
   * One packet now. An ICMP "port unreachable" from some earlier packet to a client that has gone makes the next
   * send on the socket throw ECONNREFUSED without sending; that send is tried once more.
   */
  sendOne(data: Uint8Array, port: number, address: string): void {
    if (this.#closed) return;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        if (!this.#socket.send(data, port, address)) this.counters.sendDropped++;
        return;
      } catch {
        this.counters.sendErrors++;
      }
    }
    this.counters.sendDropped++;
  }

  /**
   * The buffer for the next packet queued: write it, then queue a view of it before anything else is queued.
   * Its content is only good until the next flush.
   */
  slot(bytes: number): Buffer {
    return bytes <= SLOT_BYTES ? (this.#slots[this.#batch.length / 3] as Buffer) : Buffer.alloc(bytes);
  }

  /** Queues the first `length` bytes of a buffer slot() gave, which may be a slot or a buffer of its own. */
  queueWritten(buf: Buffer, length: number, port: number, address: string): void {
    const index = this.#batch.length / 3;
    if (buf !== this.#slots[index]) {
      this.queue(new Uint8Array(buf.buffer, buf.byteOffset, length), port, address);
      return;
    }
    let data = this.#views[index];
    if (data === undefined || data.length !== length) {
      data = new Uint8Array(buf.buffer, buf.byteOffset, length);
      this.#views[index] = data;
    }
    this.queue(data, port, address);
  }

  /** Adds a packet to the batch; flush() sends it. The batch flushes itself when full. */
  queue(data: Uint8Array, port: number, address: string): void {
    const batch = this.#batch;
    batch.push(data, port, address);
    if (batch.length >= SEND_BATCH_PACKETS * 3) this.flush();
  }

  /**
   * Sends the batch. sendmmsg stops at the first packet that fails, and a client that has gone (its ICMP error
   * arrives while the call runs, on loopback) fails the packet after its own: the rest of the batch is sent from
   * there, each packet tried twice, so one dead viewer never costs the others their packets.
   */
  flush(): void {
    const batch = this.#batch;
    const packets = batch.length / 3;
    if (packets === 0) return;
    let start = 0;
    let retried = -1;
    while (start < packets && !this.#closed) {
      let sent = 0;
      try {
        sent = this.#socket.sendMany(start === 0 ? batch : batch.slice(start * 3));
      } catch {
        this.counters.sendErrors++;
      }
      start += sent;
      if (start >= packets) break;
      if (retried === start) {
        this.counters.sendDropped++;
        start++;
      } else {
        retried = start;
      }
    }
    if (this.#closed && start < packets) this.counters.sendDropped += packets - start;
    batch.length = 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#batch.length = 0;
    this.#bySource.clear();
    this.#byUsername.clear();
    this.#socket.close();
  }
}
