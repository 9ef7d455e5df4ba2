// Builds the single-file MCP Apps widget that ships in the Lambda asset.
//
// The view script (with the MCP Apps SDK, @modelcontextprotocol/ext-apps) is bundled
// by esbuild and inlined into the HTML, so the sandboxed widget loads nothing from
// any origin. Same inputs, same bytes: tests/unit/test_widget_build.py rebuilds it
// and compares with the committed file.
//
//   node widgets/build.mjs            writes functions/tenantry/mcp_server/ui/customers.html
//   node widgets/build.mjs --out F    writes F instead (the drift test uses this)
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..");
const outIndex = process.argv.indexOf("--out");
const out = outIndex > 0 ? process.argv[outIndex + 1] : join(repo, "functions/tenantry/mcp_server/ui/customers.html");

const sdk = JSON.parse(readFileSync(join(repo, "node_modules/@modelcontextprotocol/ext-apps/package.json"), "utf8"));

// zod (the SDK's schemas) re-exports every error-message locale it ships through `z.locales`, and a
// namespace export cannot be tree-shaken: ~260 KB of Hebrew, Tamil, Russian... messages in a widget
// that only ever uses the default English ones. Its locales index is resolved to English alone.
const englishOnly = {
  name: "zod-english-only",
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({
      contents: 'export { default as en } from "./en.js";',
      resolveDir: join(repo, "node_modules/zod/v4/locales"),
      loader: "js",
    }));
  },
};

const bundle = await build({
  entryPoints: [join(here, "customers/app.ts")],
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2020",
  platform: "browser",
  legalComments: "none",
  plugins: [englishOnly],
  write: false,
  logLevel: "warning",
});
// "</script" inside the bundle would end the inline script early.
const script = bundle.outputFiles[0].text.replaceAll("</script", "<\\/script").trim();
const template = readFileSync(join(here, "customers/index.html"), "utf8");
const banner = `<!-- built by widgets/build.mjs with @modelcontextprotocol/ext-apps ${sdk.version}; do not edit -->\n`;
const html = banner + template.replace("/*__APP__*/", () => script);
writeFileSync(out, html);
console.log(`${out}: ${html.length} bytes (ext-apps ${sdk.version})`);
