// Builds the single-file MCP Apps widget that ships in the Lambda asset.
//
// The view script (widgets/customers/app.ts and the MCP Apps view client it talks to
// the host with, widgets/mcp-apps-view.ts) is bundled by esbuild and inlined into the
// HTML, so the sandboxed widget loads nothing from any origin. Same inputs, same bytes:
// tests/unit/test_widget_build.py rebuilds it and compares with the committed file.
// The banner names the MCP Apps SDK version whose protocol the view client was checked
// against (the same test compares its PROTOCOL_VERSION with that SDK's).
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

const bundle = await build({
  entryPoints: [join(here, "customers/app.ts")],
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2020",
  platform: "browser",
  legalComments: "none",
  write: false,
  logLevel: "warning",
});
// "</script" inside the bundle would end the inline script early.
const script = bundle.outputFiles[0].text.replaceAll("</script", "<\\/script").trim();
const template = readFileSync(join(here, "customers/index.html"), "utf8");
const banner = `<!-- built by widgets/build.mjs for @modelcontextprotocol/ext-apps ${sdk.version}; do not edit -->\n`;
const html = banner + template.replace("/*__APP__*/", () => script);
writeFileSync(out, html);
console.log(`${out}: ${Buffer.byteLength(html)} bytes (ext-apps ${sdk.version})`);
