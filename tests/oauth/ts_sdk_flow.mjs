// The official MCP TypeScript SDK's OAuth client signs in to a Tenantry MCP URL and calls one tool.
//
//   node tests/oauth/ts_sdk_flow.mjs MCP_URL REDIRECT_URI [CLIENT_METADATA_URL]
//
// The browser step belongs to the caller (tests/oauth/test_ts_sdk_flow.py): this script prints
// {"authorize": URL} on stdout, and reads back one line, the URL the browser was redirected to.
// Then it finishes the sign-in, calls get_tenant_profile and prints
// {"result": ..., "client_id": ..., "access_token": ...}. Each message is one JSON line.
// With CLIENT_METADATA_URL the SDK uses it as its client_id (CIMD) when the server supports it;
// without it, the SDK registers through DCR.

import { createInterface } from "node:readline";

import { Client, StreamableHTTPClientTransport, UnauthorizedError } from "@modelcontextprotocol/client";

const [mcpUrl, redirectUri, clientMetadataUrl] = process.argv.slice(2);
if (!mcpUrl || !redirectUri) {
  console.error("usage: node ts_sdk_flow.mjs MCP_URL REDIRECT_URI [CLIENT_METADATA_URL]");
  process.exit(2);
}

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (message) => process.stdout.write(JSON.stringify(message) + "\n");

// Everything the provider is asked to keep, in memory: one sign-in, one process.
class MemoryProvider {
  constructor() {
    this.saved = {};
    this.pendingAuthorization = undefined;
    if (clientMetadataUrl) this.clientMetadataUrl = clientMetadataUrl;
  }
  get redirectUrl() {
    return redirectUri;
  }
  get clientMetadata() {
    return {
      client_name: "Tenantry TypeScript SDK test",
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  clientInformation() {
    return this.saved.client;
  }
  saveClientInformation(client) {
    this.saved.client = client;
  }
  tokens() {
    return this.saved.tokens;
  }
  saveTokens(tokens) {
    this.saved.tokens = tokens;
  }
  redirectToAuthorization(url) {
    this.pendingAuthorization = url;
  }
  saveCodeVerifier(verifier) {
    this.saved.verifier = verifier;
  }
  codeVerifier() {
    return this.saved.verifier;
  }
}

const provider = new MemoryProvider();
const connect = async () => {
  const client = new Client({ name: "tenantry-ts-sdk-test", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  await client.connect(transport);
  return { client, transport };
};

let connected;
try {
  connected = await connect();
} catch (error) {
  if (!(error instanceof UnauthorizedError) || !provider.pendingAuthorization) throw error;
  // The SDK ran discovery, registration (or CIMD) and PKCE, then asked for the browser.
  say({ authorize: provider.pendingAuthorization.toString() });
  const next = await lines.next();
  if (next.done) throw new Error("no redirect URL on stdin");
  const callback = new URL(next.value.trim());
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  // The SDK checks `iss` (RFC 9207) before it redeems the code.
  await transport.finishAuth(callback.searchParams);
  connected = await connect();
}

const result = await connected.client.callTool({ name: "get_tenant_profile", arguments: {} });
say({
  result,
  client_id: provider.saved.client?.client_id,
  access_token: provider.saved.tokens?.access_token,
});
await connected.client.close();
process.exit(0);
