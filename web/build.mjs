// Bundles the workspace into DIST with esbuild (kpd's build script runs this,
// so a node ships its page inside its binary):
//   node build.mjs NODE_MODULES DIST
// automerge is taken in its "slim" form everywhere and its WebAssembly is
// served beside the bundle (fetched once, compiled while the page loads).
import { copyFile, mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const [modules, dist] = process.argv.slice(2);
if (!modules || !dist) {
  console.error("usage: node build.mjs NODE_MODULES DIST");
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const esbuild = await import(pathToFileURL(join(modules, "esbuild/lib/main.js")).href);

// automerge-codemirror and a few modules import the full entry, which would
// inline a second copy of the WebAssembly.
const slimAutomerge = {
  name: "slim-automerge",
  setup(build) {
    build.onResolve({ filter: /^@automerge\/automerge$/ }, (args) =>
      build.resolve("@automerge/automerge/slim", {
        kind: args.kind,
        resolveDir: args.resolveDir,
      }),
    );
  },
};

// automerge-repo sends a document's changes at most every 100 ms (a class
// field, not an option): a keystroke would wait that long before it leaves
// the page. One frame is enough to batch a burst of typing.
const SYNC_EVERY_MS = 16;
const promptSync = {
  name: "prompt-sync",
  setup(build) {
    build.onLoad({ filter: /automerge-repo[\\/]dist[\\/]synchronizer[\\/]DocSynchronizer\.js$/ }, async (args) => {
      const source = await readFile(args.path, "utf8");
      const field = "syncDebounceRate = 100;";
      if (!source.includes(field)) {
        throw new Error(`${args.path} no longer has \`${field}\`: check how this automerge-repo throttles sync`);
      }
      return { contents: source.replace(field, `syncDebounceRate = ${SYNC_EVERY_MS};`), loader: "js" };
    });
  },
};

await mkdir(dist, { recursive: true });
await esbuild.build({
  entryPoints: [join(here, "src/main.js")],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2022"],
  minify: true,
  sourcemap: false,
  legalComments: "linked",
  nodePaths: [modules],
  plugins: [slimAutomerge, promptSync],
  outfile: join(dist, "app.js"),
  logLevel: "warning",
});
await copyFile(join(modules, "@automerge/automerge/dist/automerge.wasm"), join(dist, "automerge.wasm"));
for (const f of ["index.html", "style.css"]) {
  await copyFile(join(here, "static", f), join(dist, f));
}
