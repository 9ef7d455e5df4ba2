"""What the tools do, free of HTTP and MCP."""
