"""A tiny MCP server over stdio for the MCP tool tests. Each call is logged to STEAD_TEST_LOG."""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("inventory")


@server.tool()
def stock_level(sku: str) -> str:
    """How many items of a SKU are in stock."""
    with open(os.environ["STEAD_TEST_LOG"], "a") as log:
        log.write(f"{os.getpid()} stock_level {sku}\n")
    return f"{sku}: 42 in stock"


if __name__ == "__main__":
    with open(os.environ["STEAD_TEST_LOG"], "a") as log:
        log.write(f"{os.getpid()} started\n")
    server.run("stdio")
