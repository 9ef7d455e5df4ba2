// The view side of MCP Apps (io.modelcontextprotocol/ui) that the customer widget needs, and no more.
//
// Why not the SDK's App (@modelcontextprotocol/ext-apps): its App extends the MCP client's Protocol
// class, which validates every message with zod and builds the full MCP schema set of both protocol
// revisions; even tree-shaken as far as esbuild allows, the widget stayed at ~245 KB (docs/chatgpt.md),
// and the host loads it on every render. The wire protocol a view speaks is small: JSON-RPC 2.0 over
// postMessage with its parent frame. This is that subset, with what it reads checked by hand:
//
//   view -> host  request       ui/initialize {appInfo, appCapabilities, protocolVersion}
//                                 result: {protocolVersion, hostInfo, hostCapabilities, hostContext}
//   view -> host  notification  ui/notifications/initialized
//   view -> host  notification  ui/notifications/size-changed {width, height}   (auto-resize)
//   view -> host  request       tools/call {name, arguments}  -> CallToolResult (needs hostCapabilities.serverTools)
//   host -> view  notification  ui/notifications/tool-result  CallToolResult
//   host -> view  request       ping, ui/resource-teardown    -> {}
//   host -> view  anything else: notifications ignored, requests answered -32601 (as the SDK's App does)
//
// The test host (widgets/harness) is the SDK's own AppBridge, so tests/browser/test_widget_render.py
// checks this against the official implementation of the other side; PROTOCOL_VERSION is checked
// against the pinned SDK's LATEST_PROTOCOL_VERSION by tests/unit/test_widget_build.py.

export type JsonObject = Record<string, unknown>;
export type Implementation = { name: string; version: string };

export const PROTOCOL_VERSION = "2026-01-26";
// The SDK's default request timeout (DEFAULT_REQUEST_TIMEOUT_MSEC): a host that never answers must not
// leave the view waiting forever.
const REQUEST_TIMEOUT_MS = 60_000;

type Pending = { resolve: (result: JsonObject) => void; reject: (error: Error) => void; timer: number };

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export class McpAppsView {
  ontoolresult?: (result: JsonObject) => void;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private hostCapabilities: JsonObject | undefined;

  constructor(private readonly appInfo: Implementation) {}

  getHostCapabilities(): JsonObject | undefined {
    return this.hostCapabilities;
  }

  async connect(): Promise<void> {
    window.addEventListener("message", (event) => this.receive(event));
    const result = await this.request("ui/initialize", {
      appCapabilities: {},
      appInfo: this.appInfo,
      protocolVersion: PROTOCOL_VERSION,
    });
    if (!isObject(result.hostCapabilities)) throw new Error("ui/initialize result has no hostCapabilities object");
    this.hostCapabilities = result.hostCapabilities;
    this.post({ jsonrpc: "2.0", method: "ui/notifications/initialized" });
    this.autoResize();
  }

  callServerTool(params: { name: string; arguments?: JsonObject }): Promise<JsonObject> {
    return this.request("tools/call", params);
  }

  private post(message: JsonObject): void {
    // The view cannot know the host's origin (it runs in a sandboxed frame the host chose); it sends
    // nothing but its own requests, and reads only messages whose source is its parent frame.
    window.parent.postMessage(message, "*");
  }

  private request(method: string, params: JsonObject): Promise<JsonObject> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = window.setTimeout(() => {
        this.pending.delete(id);
        this.post({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: id, reason: "timeout" } });
        reject(new Error(`${method}: no answer from the host in ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.post({ jsonrpc: "2.0", id, method, params });
    });
  }

  private receive(event: MessageEvent): void {
    const message: unknown = event.data;
    if (event.source !== window.parent || !isObject(message) || message.jsonrpc !== "2.0") return;
    const { id, method } = message;
    if (typeof method === "string") {
      if (typeof id === "string" || typeof id === "number") this.answer(id, method);
      else if (method === "ui/notifications/tool-result" && isObject(message.params)) this.ontoolresult?.(message.params);
      return;
    }
    const waiting = typeof id === "number" ? this.pending.get(id) : undefined;
    if (!waiting) return;
    this.pending.delete(id as number);
    window.clearTimeout(waiting.timer);
    if (isObject(message.error)) {
      waiting.reject(new Error(String(message.error.message ?? "error from the host")));
    } else if (isObject(message.result)) {
      waiting.resolve(message.result);
    } else {
      waiting.reject(new Error("the host's answer has neither a result object nor an error"));
    }
  }

  private answer(id: string | number, method: string): void {
    if (method === "ping" || method === "ui/resource-teardown") {
      this.post({ jsonrpc: "2.0", id, result: {} });
    } else {
      this.post({ jsonrpc: "2.0", id, error: { code: -32601, message: "Method not found" } });
    }
  }

  // As the SDK's App does with autoResize: report the content's height (and the frame's width) once
  // per animation frame whenever either changes, so the host can size the frame to fit.
  private autoResize(): void {
    let scheduled = false;
    let width = 0;
    let height = 0;
    const measure = (): void => {
      if (scheduled) return;
      scheduled = true;
      requestAnimationFrame(() => {
        scheduled = false;
        const html = document.documentElement;
        const saved = html.style.height;
        html.style.height = "max-content";
        const h = Math.ceil(html.getBoundingClientRect().height);
        html.style.height = saved;
        const w = Math.ceil(window.innerWidth);
        if (w === width && h === height) return;
        width = w;
        height = h;
        this.post({ jsonrpc: "2.0", method: "ui/notifications/size-changed", params: { width, height } });
      });
    };
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(document.documentElement);
    observer.observe(document.body);
  }
}
