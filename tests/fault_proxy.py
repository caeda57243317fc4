"""A TCP proxy on 127.0.0.1 in front of the test homeserver that fails the way networks do.

Like a reverse proxy (nginx) in front of Synapse: while the homeserver is away it answers
``502 Bad Gateway`` at once. It can also cut every open connection (a keep-alive connection
dropped, a homeserver restart), and hold back ``/sync`` requests for a while (a slow start).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

_BAD_GATEWAY = (
    b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 22\r\n"
    b"Connection: close\r\n\r\n<h1>502 Bad Gateway</h1>"
)


class FaultProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.sync_delay_until = 0.0  # monotonic time until which /sync requests wait
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        self.cut_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut_all(self) -> int:
        """Drop every open connection at once, mid-request or not; returns how many."""
        writers, self._writers = self._writers, set()
        for writer in writers:
            with contextlib.suppress(Exception):
                writer.transport.abort()
        return len(writers)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.upstream_port
            )
        except OSError:
            with contextlib.suppress(Exception):
                writer.write(_BAD_GATEWAY)
                await writer.drain()
                writer.close()
            return
        self._writers.update((writer, upstream_writer))
        await asyncio.gather(
            self._pipe(reader, upstream_writer, requests=True),
            self._pipe(upstream_reader, writer, requests=False),
            return_exceptions=True,
        )
        for end in (writer, upstream_writer):
            self._writers.discard(end)
            with contextlib.suppress(Exception):
                end.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, requests: bool
    ) -> None:
        try:
            while chunk := await reader.read(65536):
                if requests and chunk[:4] in (b"GET ", b"PUT ", b"POST"):
                    self.requests += 1
                    if b"/sync" in chunk.split(b"\r\n", 1)[0]:
                        wait = self.sync_delay_until - time.monotonic()
                        if wait > 0:
                            await asyncio.sleep(wait)
                writer.write(chunk)
                await writer.drain()
        finally:
            with contextlib.suppress(Exception):
                writer.close()
