"""An MCP client for tests/api/mcp.rs, on the official `mcp` SDK.

    mcp_client.py stdio COMMAND ARG... -- --xml FILE [--synth-xml FILE]
    mcp_client.py http URL TOKEN -- --xml FILE [--session SID]

It initializes, lists the tools, calls parse_score on FILE's MusicXML text, calls parse_score
on text that is not MusicXML (a tool error), and calls synthesize (with --synth-xml: that
file's text as the score; with --session: the session's own score), fetches its resource
links with plain HTTP, then prints one JSON
report on stdout for the Rust test to check. The SDK's own checks (the output schemas it
validates results against) run on the way.
"""

import argparse
import asyncio
import json
import os
import sys
import urllib.request

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def result_view(r):
    """A tool result as plain JSON: error flag, text, structured content, resource links."""
    out = {"is_error": bool(r.is_error), "text": [], "links": [], "structured": r.structured_content}
    for c in r.content:
        if c.type == "text":
            out["text"].append(c.text)
        elif c.type == "resource_link":
            out["links"].append({"uri": str(c.uri), "name": c.name, "mime_type": c.mime_type})
    return out


async def drive(session, opts):
    init = await session.initialize()
    report = {
        "server": {
            "name": init.server_info.name,
            "version": init.server_info.version,
            "instructions": init.instructions,
        }
    }
    tools = await session.list_tools()
    report["tools"] = {
        t.name: {"description": t.description, "input": t.input_schema, "output": t.output_schema}
        for t in tools.tools
    }
    with open(opts.xml, encoding="utf-8") as f:
        xml = f.read()
    report["parse"] = result_view(await session.call_tool("parse_score", {"file": xml}))
    report["bad"] = result_view(await session.call_tool("parse_score", {"file": "<score-partwise>"}))
    if opts.synth_xml:
        with open(opts.synth_xml, encoding="utf-8") as f:
            args = {"score": f.read()}
    else:
        args = {"session_id": opts.session}
    report["synth"] = result_view(await session.call_tool("synthesize", args))
    # Fetched while the server runs: `coda mcp` serves the signed URLs only until stdin closes.
    report["fetched"] = {}
    for link in report["synth"]["links"]:
        with urllib.request.urlopen(link["uri"], timeout=30) as r:
            body = r.read()
        report["fetched"][link["name"]] = {"status": r.status, "head": body[:12].hex(), "bytes": len(body)}
    return report


async def main():
    argv = sys.argv[1:]
    split = argv.index("--")
    head, rest = argv[:split], argv[split + 1 :]
    p = argparse.ArgumentParser()
    p.add_argument("--xml", required=True)
    p.add_argument("--synth-xml")
    p.add_argument("--session")
    opts = p.parse_args(rest)
    mode = head[0]
    if mode == "stdio":
        # The server reads its data dir and models from CODA_* variables: pass the whole environment.
        params = StdioServerParameters(command=head[1], args=head[2:], env=dict(os.environ))
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                report = await drive(session, opts)
    elif mode == "http":
        url, token = head[1], head[2]
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with http:
            async with streamable_http_client(url, http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    report = await drive(session, opts)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main())
