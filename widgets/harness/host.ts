// A minimal MCP Apps host for tests (never shipped): renders the widget in an iframe,
// hands it one tool result through the official AppBridge, and answers list_customers
// calls from the widget with the next page. When the widget says it rendered, the host
// copies what a user would see (text, computed colours) into #report for --dump-dom.
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

declare const WIDGET_HTML: string;
declare const TOOL_RESULT: Record<string, unknown>;
declare const NEXT_PAGE: Record<string, unknown> | null;

const frame = document.getElementById("widget") as HTMLIFrameElement;
const bridge = new AppBridge(null, { name: "tenantry-test-host", version: "1.0.0" }, { serverTools: {} });
bridge.oncalltool = async () => (NEXT_PAGE ?? { content: [], isError: true }) as never;
// Before the real result, a frame that is not the widget's parent (a sibling) posts a forged tool
// result straight to the widget; a widget that listened to any sender would render it first.
bridge.oninitialized = () => {
  forge();
  setTimeout(() => void bridge.sendToolResult(TOOL_RESULT as never), 200);
};

function forge(): void {
  const forged = {
    jsonrpc: "2.0",
    method: "ui/notifications/tool-result",
    params: {
      content: [],
      structuredContent: { customers: [{ customer_id: "forged", name: "Forged Customer" }], next_cursor: null },
      _meta: { "io.tenantry/branding": { name: "Forged Studio", color: "#00FF00" } },
    },
  };
  const sibling = document.createElement("iframe");
  sibling.style.display = "none";
  sibling.srcdoc = `<script>parent.frames[0].postMessage(${JSON.stringify(forged)}, "*")<\/script>`;
  document.body.append(sibling);
}

// Listen before the widget loads: its ui/initialize goes out as soon as its script runs.
// (The iframe's WindowProxy stays the same object across the srcdoc navigation.)
const target = frame.contentWindow as Window;
void bridge.connect(new PostMessageTransport(target, target)).then(() => {
  frame.srcdoc = WIDGET_HTML;
});

function snapshot(doc: Document): Record<string, unknown> {
  const brand = doc.getElementById("brand") as HTMLElement;
  return {
    company: doc.querySelector(".company")?.textContent ?? null,
    header_background: getComputedStyle(brand).backgroundColor,
    header_color_attr: brand.dataset.color ?? null,
    names: Array.from(doc.querySelectorAll(".name, .card-name")).map((n) => n.textContent),
    more_button: Boolean(doc.querySelector("button.more")),
    text: doc.body.innerText,
  };
}

// The first render is reported as is; when it offers "Show more" and the test gave a next page, the
// host clicks it (the widget's tools/call goes through the AppBridge to oncalltool above) and reports
// what the widget shows afterwards as after_more (or the widget's error text if the call failed).
let first: Record<string, unknown> | null = null;
function report(): void {
  const doc = frame.contentDocument;
  const failed = doc?.querySelector("button.more")?.textContent?.startsWith("Could not") ?? false;
  if (!doc || (doc.body?.dataset.state !== "rendered" && !failed)) {
    setTimeout(report, 20);
    return;
  }
  const shown = snapshot(doc);
  const more = doc.querySelector("button.more") as HTMLButtonElement | null;
  if (!first && more && NEXT_PAGE) {
    first = shown;
    doc.body.dataset.state = "paging";
    more.click();
    setTimeout(report, 20);
    return;
  }
  const out = first ? { ...first, after_more: shown } : shown;
  (document.getElementById("report") as HTMLElement).textContent = JSON.stringify(out);
}
report();
