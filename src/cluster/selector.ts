// Node selection as a small policy object (LiveKit's pkg/routing/selector): which node gets a viewer or a publish
// this node cannot take. Pure: it reads the node list the directory gave and decides nothing else.
import type { NodeInfo } from "./directory.ts";
import type { NodeId } from "./ids.ts";

export interface SelectRequest {
  /** Packets per second the newcomer will cost (a viewer: the room's outgoing rate). */
  pps: number;
  /** Nodes not to choose: this one, one that just refused. */
  exclude?: Iterable<NodeId>;
}

export interface NodeSelector {
  select(nodes: readonly NodeInfo[], req: SelectRequest): NodeInfo | undefined;
}

/**
 * The node with the most headroom among those that can take `pps` more packets per second. Ties go to the lower
 * CPU share, then the lower id: the same list gives the same answer in any order, on every node.
 */
export class HeadroomSelector implements NodeSelector {
  select(nodes: readonly NodeInfo[], req: SelectRequest): NodeInfo | undefined {
    const exclude = new Set(req.exclude ?? []);
    let best: NodeInfo | undefined;
    for (const n of nodes) {
      if (exclude.has(n.id) || n.load.headroomPps < req.pps) continue;
      if (!best || better(n, best)) best = n;
    }
    return best;
  }
}

function better(a: NodeInfo, b: NodeInfo): boolean {
  if (a.load.headroomPps !== b.load.headroomPps) return a.load.headroomPps > b.load.headroomPps;
  if (a.load.cpu !== b.load.cpu) return a.load.cpu < b.load.cpu;
  return a.id < b.id;
}
