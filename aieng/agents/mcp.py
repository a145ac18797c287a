"""Tools over the Model Context Protocol: the sales tools as an MCP server on stdio, and a client adapter.

Taught in Month 10 (chapters/10-multi-agent/03-mcp-and-frameworks).

MCP is JSON-RPC 2.0 between a *client* (the agent's side) and a *server* (the tools' side). On the stdio
transport the client starts the server as a child process and they exchange one JSON object a line over its
stdin and stdout: ``initialize``, then ``tools/list`` (names, descriptions, JSON schemas), then
``tools/call`` as often as the agent needs. A server may also ask the client something mid-call
(``elicitation/create``): that is how a person's approval reaches a tool that runs in another process.

- :func:`build_server` serves Month 9's :func:`aieng.agents.sales.sales_tools` with the ``mcp`` SDK's
  ``MCPServer``; ``python -m aieng.agents.mcp --csv PATH --smtp HOST:PORT`` runs it on stdio. The tools,
  the database and the report workspace live in the server process; the SMTP server's address is an
  argument; the approval is asked of the client by elicitation.
- :class:`MCPToolBox` starts that process (``stdio_client``), opens a ``ClientSession``, lists the tools and
  turns each into an :class:`aieng.agents.Tool`, so :func:`aieng.agents.execute` and the agents of Month 9
  use them unchanged. Leaving its ``with`` block stops the server process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import sys
import threading
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aieng.agents.tools import Tool, ToolBox

__all__ = ["APPROVAL_PREFIX", "MCPToolBox", "build_server", "main", "server_command", "tool_result"]

APPROVAL_PREFIX = "Approve emailing"
"""How the server's approval question starts (the client's ``approve(message)`` reads the rest)."""


# ----------------------------------------------------------------------------------------------- server


def build_server(csv_path: str, smtp_server: str) -> Any:
    """An ``MCPServer`` that serves the seven sales tools over the sales table in ``csv_path``.

    Each tool keeps the JSON schema :class:`aieng.agents.Tool` wrote for it (descriptions included). A
    tool's anticipated failure (bad input, a refused approval) is raised as the SDK's ``ToolError`` so its
    reason reaches the client. ``request_approval`` asks the *client* by elicitation: the person who
    approves sits with the client, not with the server process.
    """
    import anyio.from_thread
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.server.mcpserver.tools import Tool as ServerTool
    from pydantic import BaseModel

    from aieng.agents.sales import SalesDB, sales_tools

    class Approval(BaseModel):
        approve: bool

    local = threading.local()  # the request's Context, for the approver running in the tool's thread

    def approve(to_address: str, subject: str, report_html: str) -> bool:
        message = (f"{APPROVAL_PREFIX} the report {subject!r} to {to_address}? "
                   f"({len(report_html)} characters of HTML)")
        result = anyio.from_thread.run(local.ctx.elicit, message, Approval)
        return result.action == "accept" and bool(result.data.approve)

    box = sales_tools(SalesDB(csv_path), smtp_server, approve)
    served = []
    for tool in box.tools.values():
        fn = _served(tool, local, ToolError)
        fn.__signature__ = _signature_with_ctx(tool.fn, Context)  # type: ignore[attr-defined]
        fn.__annotations__ = {**typing.get_type_hints(tool.fn), "ctx": Context}
        entry = ServerTool.from_function(fn, name=tool.name, description=tool.description,
                                         context_kwarg="ctx", structured_output=False)
        served.append(entry.model_copy(update={"parameters": tool.parameters}))
    return MCPServer("aieng-sales", instructions="The sales-report tools of aieng (Month 9).", tools=served)


def _served(tool: Tool, local: threading.local, error: type[Exception]) -> Callable[..., str]:
    def call(**kwargs: Any) -> str:
        local.ctx = kwargs.pop("ctx")
        try:
            return json.dumps(tool.fn(**kwargs))
        except (ValueError, PermissionError, KeyError, TypeError) as exc:
            raise error(f"{type(exc).__name__}: {exc}") from exc
    call.__name__ = tool.name
    return call


def _signature_with_ctx(fn: Callable[..., Any], context: type) -> inspect.Signature:
    sig = inspect.signature(fn, eval_str=True)
    ctx = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=context)
    return sig.replace(parameters=[*sig.parameters.values(), ctx], return_annotation=str)


def server_command(csv_path: str, smtp_server: str) -> list[str]:
    """The command line that runs the sales server on stdio: ``[python, -m, aieng.agents.mcp, ...]``."""
    return [sys.executable, "-m", "aieng.agents.mcp", "--csv", str(csv_path), "--smtp", smtp_server]


def _die_with_parent() -> None:
    """Ask Linux to end this process when its parent dies (no server is left behind by a killed client)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m aieng.agents.mcp --csv PATH --smtp HOST:PORT``: serve the sales tools on stdio."""
    parser = argparse.ArgumentParser(prog="python -m aieng.agents.mcp", description=main.__doc__)
    parser.add_argument("--csv", required=True, help="pizzaplace.csv")
    parser.add_argument("--smtp", required=True, help="the SMTP server, host:port")
    args = parser.parse_args(argv)
    _die_with_parent()
    build_server(args.csv, args.smtp).run("stdio")


# ----------------------------------------------------------------------------------------------- client


def tool_result(result: Any) -> Any:
    """The Python value of a ``CallToolResult``: its JSON text parsed (plain text when it is not JSON).

    Raises ``RuntimeError`` with the server's message when the call failed (``isError``).
    """
    text = "".join(getattr(c, "text", "") for c in result.content)
    if result.is_error:
        raise RuntimeError(text or "the MCP tool failed without a message")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


class MCPToolBox:
    """A :class:`aieng.agents.ToolBox` whose tools run in an MCP server process, over stdio.

    Parameters
    ----------
    command
        The server's command line (e.g. :func:`server_command`); it is started as a child process.
    approve
        ``approve(message) -> bool``: answers the server's approval question (elicitation). A person, or
        in tests and notebooks a scripted approver; ``None`` declines every request.
    timeout_s
        Each tool call's time limit (the aieng ``Tool`` timeout).
    record
        Keep every JSON-RPC message in :attr:`wire` as ``(direction, message)``.

    Use it as a context manager: entering starts the server and lists its tools (:attr:`box`); leaving closes
    the session and stops the process. The SDK is asynchronous; the box runs its event loop in one
    background thread and the aieng tools (synchronous, as Month 9's loop calls them) wait on it.
    """

    def __init__(self, command: Sequence[str], approve: Callable[[str], bool] | None = None,
                 timeout_s: float = 60.0, record: bool = False, env: Mapping[str, str] | None = None) -> None:
        if not command:
            raise ValueError("command is the server's command line, e.g. server_command(csv, smtp)")
        self.command = list(command)
        self.approve = approve
        self.timeout_s = timeout_s
        self.record = record
        self.env = dict(env or {})
        self.wire: list[tuple[str, dict[str, Any]]] = []
        self.approvals: list[tuple[str, bool]] = []
        self.box: ToolBox | None = None
        self.pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._session: Any = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    # -- lifecycle
    def __enter__(self) -> ToolBox:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, daemon=True, name="mcp-client")
        self._thread.start()
        if not self._ready.wait(self.timeout_s) or self._failure is not None:
            self.close()
            raise RuntimeError(f"the MCP server {self.command[:4]} did not start: {self._failure!r}")
        listed = self._submit(self._session.list_tools())
        self.box = ToolBox([self._tool(t) for t in listed.tools], max_chars=1500)
        return self.box

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the session and stop the server process (idempotent)."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        if self._stop is not None and self._thread is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop may close (server gone) as we ask it to stop
                loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(15)

    def _run_loop(self) -> None:
        loop = self._loop  # close() may drop the attribute while this thread still runs
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported by __enter__
            self._failure = exc
            self._ready.set()
        finally:
            loop.close()

    async def _main(self) -> None:
        import os

        from mcp import ClientSession, StdioServerParameters, stdio_client

        self._stop = asyncio.Event()
        params = StdioServerParameters(command=self.command[0], args=self.command[1:],
                                       env={"PYTHONPATH": os.pathsep.join(sys.path), **self.env})
        with open(os.devnull, "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                if self.record:
                    read, write = _Recorded(read, self.wire, "server->client"), _Recorded(write, self.wire,
                                                                                          "client->server")
                async with ClientSession(read, write, elicitation_callback=self._elicit) as session:
                    await session.initialize()
                    self._session = session
                    self._ready.set()
                    await self._stop.wait()

    def _submit(self, coro: Any) -> Any:
        if self._loop is None:
            raise RuntimeError("the MCP session is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout_s)

    async def _elicit(self, context: Any, params: Any) -> Any:
        import mcp.types as types

        answer = bool(self.approve(params.message)) if self.approve is not None else False
        self.approvals.append((params.message, answer))
        return types.ElicitResult(action="accept", content={"approve": answer})

    def _tool(self, spec: Any) -> Tool:
        name = spec.name

        def call(**arguments: Any) -> Any:
            return tool_result(self._submit(self._session.call_tool(name, arguments)))

        return Tool(name, spec.description or "", dict(spec.input_schema), call, timeout_s=self.timeout_s)


class _Recorded:
    """A transport stream that appends each JSON-RPC message it carries to a list (to show the wire)."""

    def __init__(self, stream: Any, log: list[tuple[str, dict[str, Any]]], direction: str) -> None:
        self._stream, self._log, self._direction = stream, log, direction

    def _keep(self, item: Any) -> None:
        message = getattr(item, "message", None)
        if message is not None:
            self._log.append((self._direction, message.model_dump(by_alias=True, exclude_none=True)))

    async def send(self, item: Any) -> None:
        self._keep(item)
        await self._stream.send(item)

    async def receive(self) -> Any:
        item = await self._stream.receive()
        self._keep(item)
        return item

    def __aiter__(self) -> _Recorded:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except Exception as exc:  # anyio's end-of-stream ends the iteration
            if type(exc).__name__ in {"EndOfStream", "ClosedResourceError"}:
                raise StopAsyncIteration from None
            raise

    async def __aenter__(self) -> _Recorded:
        await self._stream.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> Any:
        return await self._stream.__aexit__(*exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


if __name__ == "__main__":
    main()
