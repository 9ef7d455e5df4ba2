"""The MCP server, its tools and the Lambda entry point."""
