// The web app (web/) as files to serve, Bun-only. `bun build --compile` bundles the HTML import below (its script and
// stylesheet too) and embeds the output in the binary; the import then carries a manifest (`files`) whose paths
// Bun.file() reads from inside the executable, so nothing sits beside the binary. Run from source (`bun run dev`),
// the import is only the HTML's path: the app is bundled in memory with Bun.build, again on each page load, so an
// edit in web/ shows on reload.
import { basename } from "node:path";
import index from "../../web/index.html";
import type { WebAssets, WebFile } from "./ports.ts";

/** The compiled binary's embedded files, read once at start (tens of kB). */
async function embedded(manifest: NonNullable<typeof index.files>): Promise<WebAssets> {
  const files = new Map<string, WebFile>();
  let page: WebFile | undefined;
  for (const f of manifest) {
    const file: WebFile = {
      // The bundled HTML links its chunks from the site root ("/chunk-….js").
      path: `/${basename(f.path)}`,
      body: await Bun.file(f.path).bytes(),
      contentType: f.headers["content-type"],
      etag: f.headers.etag,
    };
    if (f.loader === "html") page = file;
    else files.set(file.path, file);
  }
  if (!page) throw new Error("the embedded web app has no HTML page");
  const thePage = page;
  return { immutable: true, page: async () => thePage, file: (path) => files.get(path) };
}

/** From source: bundle in memory; old chunks stay served so a page loaded before an edit still works. */
function fromSource(htmlPath: string): WebAssets {
  const files = new Map<string, WebFile>();
  return {
    immutable: false,
    async page() {
      const result = await Bun.build({ entrypoints: [htmlPath], publicPath: "/", target: "browser", sourcemap: "inline" });
      let page: WebFile | undefined;
      for (const out of result.outputs) {
        const file: WebFile = {
          path: `/${basename(out.path)}`,
          body: new Uint8Array(await out.arrayBuffer()),
          contentType: out.type,
          etag: out.hash ?? String(Date.now()),
        };
        if (out.path.endsWith(".html")) page = file;
        else files.set(file.path, file);
      }
      if (!page) throw new Error("building web/ produced no HTML page");
      return page;
    },
    file: (path) => files.get(path),
  };
}

export async function loadWebAssets(): Promise<WebAssets> {
  return index.files ? embedded(index.files) : fromSource(index.index);
}
