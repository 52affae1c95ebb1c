// Where each node of one machine listens: pure arithmetic the supervisor and its nodes agree on, from the one
// configuration they share (see docs/cluster.md, "Ports and addresses").

/** More would not fit the direct ports above a usual PORT, and no machine has that many cores to pin. */
export const MAX_WORKERS = 256;

/** Worker i's own HTTP port: PORT + 1 + i, or ephemeral (0) when PORT is. */
export function workerDirectPort(port: number, index: number): number {
  return port === 0 ? 0 : port + 1 + index;
}

/**
 * Worker i's share of the media port range: the range cut into `workers` contiguous slices of (nearly) equal
 * size, so each node takes the first free port of its own slice and no two nodes ever race for one port.
 */
export function workerPortRange(range: readonly [number, number], index: number, workers: number): [number, number] {
  const [min, max] = range;
  const size = max - min + 1;
  if (size < workers) throw new RangeError(`${size} ports cannot be shared by ${workers} workers`);
  const lo = min + Math.floor((index * size) / workers);
  const hi = min + Math.floor(((index + 1) * size) / workers) - 1;
  return [lo, hi];
}
