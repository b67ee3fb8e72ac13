"""Measure the MCP server as a client sees it: start-up to `initialize`, and one tool's latency over stdio.

    .venv/bin/python -m mcp_bridge.bench [--starts 5] [--calls 50] [--tool get_holdings] [--account-id N]

It spawns `python manage.py runmcp` with this process's environment (so DATABASE_URL, KITE_MCP_USER, the
KITE_* URLs and the `.env` beside manage.py apply), like an MCP client would. Point it at a database whose
user has a connected account and at a running sandbox: `make run` provides both (its demo user and paper
account). Prints one JSON object (seconds) to stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

REPO = Path(__file__).resolve().parent.parent


def server_parameters(env: dict[str, str] | None = None) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=[str(REPO / "manage.py"), "runmcp"], cwd=str(REPO),
                                 env=dict(os.environ) if env is None else env)


async def startup_seconds(params: StdioServerParameters) -> float:
    """From spawning the process to the `initialize` result."""
    started = time.perf_counter()
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        return time.perf_counter() - started


async def call_seconds(params: StdioServerParameters, tool: str, arguments: dict[str, Any], calls: int
                       ) -> list[float]:
    """Round trips of one tool call on one warm session (the first call, which builds the client, excluded)."""
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        first = await session.call_tool(tool, arguments)
        if first.is_error:
            raise SystemExit(f"{tool} failed: {first.content[0].text if first.content else first}")
        timings = []
        for _ in range(calls):
            started = time.perf_counter()
            result = await session.call_tool(tool, arguments)
            timings.append(time.perf_counter() - started)
            if result.is_error:
                raise SystemExit(f"{tool} failed: {result.content[0].text if result.content else result}")
        return timings


def _summary(values: list[float]) -> dict[str, float | int]:
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered), 4), "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 4),
            "min": round(ordered[0], 4), "n": len(ordered)}


async def run(starts: int, calls: int, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    params = server_parameters()
    startup = [await startup_seconds(params) for _ in range(starts)]
    latency = await call_seconds(params, tool, arguments, calls)
    return {"startup_to_initialize_s": _summary(startup), f"{tool}_s": _summary(latency)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=5, help="server start-ups to time")
    parser.add_argument("--calls", type=int, default=50, help="tool calls to time on one session")
    parser.add_argument("--tool", default="get_holdings")
    parser.add_argument("--account-id", type=int, help="needed when the server serves several accounts")
    options = parser.parse_args(argv)
    arguments = {} if options.account_id is None else {"account_id": options.account_id}
    print(json.dumps(anyio.run(run, options.starts, options.calls, options.tool, arguments)))


if __name__ == "__main__":
    main()
