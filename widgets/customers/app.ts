// The customer widget (MCP Apps view) for list_customers and get_customer.
//
// One template serves every tenant: the tenant's name, colour and logo come from
// the tool result's _meta["io.tenantry/branding"], never from the template, so a
// host that caches the resource cannot show one tenant's branding to another.
// Everything the result holds is written with textContent (never innerHTML). It talks to the host
// through widgets/mcp-apps-view.ts (the MCP Apps messages it uses; why not the SDK's App: see there).
import { McpAppsView } from "../mcp-apps-view";

type Branding = { name?: string; color?: string; logo_url?: string };
type Customer = {
  customer_id: string;
  name: string;
  email?: string | null;
  phone?: string | null;
  membership?: string;
  created_at?: string;
};
type Result = { structuredContent?: Record<string, unknown>; _meta?: Record<string, unknown>; isError?: boolean };

const BRANDING_KEY = "io.tenantry/branding";
const COLOR = /^#[0-9A-Fa-f]{6}$/;
const DEFAULT_COLOR = "#334155";

const app = new McpAppsView({ name: "tenantry-customers", version: "1.0.0" });
const root = document.getElementById("root") as HTMLElement;
let nextCursor: string | null = null;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function brandingOf(result: Result): Branding {
  const raw = result._meta?.[BRANDING_KEY];
  return raw && typeof raw === "object" ? (raw as Branding) : {};
}

function applyBranding(branding: Branding): void {
  const color = branding.color && COLOR.test(branding.color) ? branding.color : DEFAULT_COLOR;
  document.documentElement.style.setProperty("--brand", color);
  const header = document.getElementById("brand") as HTMLElement;
  header.replaceChildren();
  const name = branding.name || "Your studio";
  // The server only sends a logo whose origin the resource's CSP names; anything else gets a monogram.
  if (branding.logo_url && branding.logo_url.startsWith("https://")) {
    const logo = el("img", "logo");
    logo.alt = "";
    logo.src = branding.logo_url;
    header.append(logo);
  } else {
    header.append(el("span", "monogram", name.trim().charAt(0).toUpperCase() || "?"));
  }
  header.append(el("span", "company", name));
  header.dataset.color = color;
}

function customerRow(customer: Customer): HTMLElement {
  const row = el("li", "row");
  row.append(el("span", "name", customer.name));
  row.append(el("span", "badge", (customer.membership || "none").replace("_", " ")));
  row.append(el("span", "contact", customer.email || customer.phone || ""));
  return row;
}

function renderCard(customer: Customer): void {
  const card = el("article", "card");
  card.append(el("h2", "card-name", customer.name));
  card.append(el("span", "badge", (customer.membership || "none").replace("_", " ")));
  const facts = el("dl", "facts");
  const pairs: Array<[string, string | null | undefined]> = [
    ["Email", customer.email],
    ["Phone", customer.phone],
    ["Customer since", customer.created_at?.slice(0, 10)],
    ["Id", customer.customer_id],
  ];
  for (const [label, value] of pairs) {
    if (!value) continue;
    facts.append(el("dt", undefined, label), el("dd", undefined, value));
  }
  card.append(facts);
  root.replaceChildren(card);
}

function renderList(customers: Customer[], cursor: string | null, append: boolean): void {
  let list = root.querySelector("ul.list") as HTMLUListElement | null;
  if (!append || !list) {
    list = el("ul", "list");
    root.replaceChildren(list);
  }
  for (const customer of customers) list.append(customerRow(customer));
  if (!list.children.length) root.replaceChildren(el("p", "empty", "No customers yet."));
  nextCursor = cursor;
  root.querySelector("button.more")?.remove();
  // Paging needs the host to forward tools/call to the server; without it the model pages instead.
  if (nextCursor && app.getHostCapabilities()?.serverTools) {
    const more = el("button", "more", "Show more");
    more.addEventListener("click", () => void loadMore(more));
    root.append(more);
  }
}

async function loadMore(button: HTMLButtonElement): Promise<void> {
  if (!nextCursor) return;
  button.disabled = true;
  try {
    const result = (await app.callServerTool({
      name: "list_customers",
      arguments: { cursor: nextCursor, limit: 20 },
    })) as Result;
    show(result, true);
  } catch {
    button.disabled = false;
    button.textContent = "Could not load more; try again";
  }
}

function show(result: Result, append = false): void {
  applyBranding(brandingOf(result));
  const data = result.structuredContent;
  // The host's message is checked by hand (widgets/mcp-apps-view.ts): structuredContent must be an object.
  if (result.isError || typeof data !== "object" || data === null || Array.isArray(data)) {
    root.replaceChildren(el("p", "empty", "Nothing to show."));
  } else if (Array.isArray(data.customers)) {
    renderList(data.customers as Customer[], (data.next_cursor as string | null) ?? null, append);
  } else if (typeof data.customer_id === "string") {
    renderCard(data as unknown as Customer);
  }
  document.body.dataset.state = "rendered";
}

app.ontoolresult = (result) => show(result as Result);
void app.connect();
