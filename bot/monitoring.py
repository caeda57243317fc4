"""The optional HTTP endpoint (config ``[metrics]``): ``/healthz`` and ``/metrics``.

It runs on the bot's own event loop (aiohttp, which matrix-nio brings along) and is bound to
127.0.0.1 unless configured otherwise: it tells whoever reaches it how busy the bot is, and is
meant for a monitoring agent on the same machine or a private network.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_LATEST

from bot.healthcheck import Health

log = logging.getLogger(__name__)


class _RequestLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp logs a request it cannot parse with its traceback, as an ERROR. Anyone who can
    reach the port can send one, and it says nothing about the bot: one WARNING line is enough.
    A failure in our own handlers keeps its traceback."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        error = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if isinstance(error, HttpProcessingError):
            text = str(msg) % args if args else str(msg)
            reason = " ".join(str(error.message).split())  # aiohttp's spans several lines
            if len(reason) > 200:
                reason = reason[:199] + "…"
            self.warning("Monitoring endpoint: %s (%s)", text, reason)
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)


class MonitoringServer:
    def __init__(self, health: Health, host: str, port: int) -> None:
        self.health = health
        self.host = host
        self.port = port
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        request_log = cast(logging.Logger, _RequestLog(log, {}))  # aiohttp uses it as a Logger
        self._runner = web.AppRunner(app, access_log=None, logger=request_log)

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        log.info("Health and metrics on http://%s:%d/ (/healthz, /metrics)", self.host, self.port)

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _healthz(self, _request: web.Request) -> web.Response:
        problems = self.health.problems()
        if problems:
            return web.Response(status=503, text="\n".join(problems) + "\n")
        return web.Response(text="ok\n")

    async def _metrics(self, _request: web.Request) -> web.Response:
        metrics = self.health.metrics
        await metrics.refresh(self.health.store)
        return web.Response(
            body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )
