// What the pure writers hand to a file: bytes to append, and small in-place updates of bytes already written
// (IVF's length field). Applied in order, they leave a playable file after every op.

export type WriteOp =
  | { type: "append"; data: Uint8Array }
  | { type: "patch"; offset: number; data: Uint8Array };

/** Applies ops to an in-memory file; for tests and for anyone who wants the bytes without a disk. */
export function applyOps(file: Buffer, ops: readonly WriteOp[]): Buffer {
  let out = file;
  for (const op of ops) {
    if (op.type === "append") {
      out = Buffer.concat([out, op.data]);
    } else {
      if (op.offset + op.data.length > out.length) throw new RangeError("patch beyond the end of the file");
      out.set(op.data, op.offset);
    }
  }
  return out;
}
