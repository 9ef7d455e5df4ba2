// Builds the test host page (tests/browser): the AppBridge bundle, the widget and one tool result, inlined.
//   node widgets/harness/build_host.mjs WIDGET_HTML RESULT_JSON OUT_HTML [NEXT_PAGE_JSON]
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const [widgetPath, resultPath, out, nextPath] = process.argv.slice(2);
const here = dirname(fileURLToPath(import.meta.url));
const bundle = await build({
  entryPoints: [join(here, "host.ts")],
  bundle: true,
  format: "iife",
  target: "es2020",
  write: false,
  logLevel: "warning",
  define: {
    WIDGET_HTML: JSON.stringify(readFileSync(widgetPath, "utf8")),
    TOOL_RESULT: readFileSync(resultPath, "utf8"),
    NEXT_PAGE: nextPath ? readFileSync(nextPath, "utf8") : "null",
  },
});
const script = bundle.outputFiles[0].text.replaceAll("</script", "<\\/script");
writeFileSync(
  out,
  `<!doctype html><html><head><meta charset="utf-8"><title>host</title></head><body style="margin:0">` +
    `<iframe id="widget" style="width:420px;height:300px;border:0"></iframe><pre id="report"></pre>` +
    `<script>${script}</script></body></html>`,
);
