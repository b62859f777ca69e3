// Copy the pinned, already-built library files into the Python package so that stepline
// serves them itself: no Node.js at runtime and no asset loaded from the internet.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "src", "stepline", "console", "static");
mkdirSync(out, { recursive: true });
const files = [
  ["@dagrejs/dagre/dist/dagre.min.js", "dagre.min.js"],
  ["uplot/dist/uPlot.iife.min.js", "uPlot.iife.min.js"],
  ["uplot/dist/uPlot.min.css", "uPlot.min.css"],
  ["@dagrejs/dagre/LICENSE", "dagre.LICENSE.txt"],
  ["uplot/LICENSE", "uPlot.LICENSE.txt"],
];
const manifest = {};
for (const [src, dst] of files) {
  copyFileSync(join(here, "node_modules", src), join(out, dst));
  const pkg = src.startsWith("@") ? src.split("/").slice(0, 2).join("/") : src.split("/")[0];
  manifest[dst] = `${pkg}@${JSON.parse(readFileSync(join(here, "node_modules", pkg, "package.json"))).version}`;
}
writeFileSync(join(out, "vendor.json"), JSON.stringify(manifest, null, 2) + "\n");
console.log("vendored", Object.keys(manifest).join(", "));
