"""The ASGI layer in front of the app: allowed hosts, the body cap, security headers, early 503s."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import HTTPException
from fastapi.responses import JSONResponse

from .limits import FRAME_POLICY, MAX_BODY_BYTES, SECURITY_HEADERS, TOO_LARGE
from .pool import Busy, GenerationPool


def host_name(host_header: str) -> str:
    """The name in a Host header, without its port: "[::1]:8000" -> "[::1]"."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] if ":" in host else host


class Guard:
    """ASGI middleware in front of the whole app: refuses a foreign Host header (400), a body over
    MAX_BODY_BYTES (413) and, while the pool is full, any POST (503) before any other work, and puts
    SECURITY_HEADERS on every answer."""

    def __init__(self, app, allowed_hosts: Sequence[str], pool: GenerationPool):
        self.app = app
        self.pool = pool
        self.any_host = "*" in allowed_hosts
        self.allowed = {host.lower() for host in allowed_hosts}
        self.hint = ", ".join(allowed_hosts)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def secured(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += SECURITY_HEADERS
                if not any(name.lower() == FRAME_POLICY[0] for name, _ in headers):
                    headers.append(FRAME_POLICY)
                message["headers"] = headers
            await send(message)

        headers = dict(scope["headers"])
        if not self.any_host:
            host = host_name(headers.get(b"host", b"").decode("latin-1"))
            if host not in self.allowed:
                message = (
                    f"this server answers to the host names {self.hint}, not {host!r} "
                    "(cgan serve --allowed-hosts adds names)"
                )
                return await JSONResponse({"detail": message}, 400)(scope, receive, secured)
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            declared = 0  # uvicorn itself refuses a malformed length
        if declared > MAX_BODY_BYTES:
            return await JSONResponse({"detail": TOO_LARGE}, 413)(scope, receive, secured)
        if scope["method"] == "POST" and self.pool.full():
            # Refused before its body is parsed or validated: under a flood a refusal has to be cheap.
            # The body is read (up to the cap) so that the connection can carry the next request.
            received, more = 0, True
            while more and received <= MAX_BODY_BYTES:
                message = await receive()
                received += len(message.get("body", b""))
                more = message.get("more_body", False)
            busy = Busy(self.pool.admitted)
            return await JSONResponse({"detail": busy.detail}, 503, busy.headers)(scope, receive, secured)
        received = 0

        async def counted():  # a chunked body has no length to check up front
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                raise HTTPException(413, TOO_LARGE)
            return message

        await self.app(scope, counted, secured)
