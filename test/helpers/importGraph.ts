// The import graph of a TypeScript source tree, read from its import/export statements (type-only ones too: a
// type import ties two modules together as much as any other), and its cycles. Small on purpose: src/ uses
// relative imports with explicit .ts extensions only, which is all this resolves.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

export interface ImportGraph {
  /** Module (path relative to the root) → what it imports: modules of the tree, or package specifiers. */
  imports: Map<string, Set<string>>;
}

const SPECIFIER = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g;

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return files(path);
    return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [path] : [];
  });
}

export function importGraph(root: string): ImportGraph {
  const imports = new Map<string, Set<string>>();
  for (const file of files(root)) {
    const text = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
    const out = new Set<string>();
    for (const m of text.matchAll(SPECIFIER)) {
      const spec = (m[1] ?? m[2]) as string;
      if (spec.startsWith(".")) out.add(relative(root, resolve(dirname(file), spec)));
      else out.add(spec);
    }
    imports.set(relative(root, file), out);
  }
  return { imports };
}

/** Every cycle among the tree's modules, as the strongly connected components of more than one (Tarjan). */
export function cycles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.imports.get(v) ?? []) {
      if (!graph.imports.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.imports.get(v)?.has(v)) found.push(component.sort());
    }
  };
  for (const v of [...graph.imports.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}
