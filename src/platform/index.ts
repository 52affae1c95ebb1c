// The runtime's platform: Bun's in the product, Node's under vitest. Both modules load on either runtime; only the
// chosen one is called.
import { bunPlatform } from "./bun.ts";
import { nodePlatform } from "./node.ts";
import type { Platform } from "./ports.ts";

export const platform: Platform = typeof Bun === "undefined" ? nodePlatform : bunPlatform;
