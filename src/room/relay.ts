// The seam between the cluster's routing and the relay (docs/cluster.md, "Requests across nodes"): how a play of a
// room that lives on another node names that node. The relay itself (an edge pulling the room from its origin over
// WHEP) is built on this type.

/** The node a room lives on, as the cluster (or a test) names it for a relay. */
export interface OriginRef {
  node: string;
  /** The origin node's direct base URL, e.g. http://127.0.0.1:18081. */
  url: string;
  /** A fresh cluster bearer token. */
  token(): Promise<string>;
}
