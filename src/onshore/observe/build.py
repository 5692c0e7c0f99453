"""The access log and the tracer from the config, their lifetimes owned by the app's exit stack."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from onshore import __version__
from onshore.metrics import Metrics
from onshore.observe.access_log import AccessLog
from onshore.observe.otlp import OtlpExporter
from onshore.observe.spans import Tracer
from onshore.settings import Settings

FLUSH_SECONDS = 2.0  # at shutdown, how long queued spans may take to go out


def open_access_log(settings: Settings, stack: contextlib.ExitStack | contextlib.AsyncExitStack) -> AccessLog | None:
    config = settings.gateway.access_log
    if config is None:
        return None
    path = config.path
    if path not in ("stdout", "stderr"):
        path = str(settings.data_dir / Path(path)) if not Path(path).is_absolute() else path
    access = AccessLog.open(config.format, path)
    stack.callback(access.close)
    return access


def start_tracer(settings: Settings, metrics: Metrics, stack: contextlib.AsyncExitStack) -> Tracer | None:
    """The OTLP exporter's sender task (stopped at teardown, after a bounded flush), or None."""
    otlp = settings.gateway.telemetry.otlp
    if otlp is None:
        return None
    dropped = metrics.spans_dropped
    exporter = OtlpExporter(
        otlp.endpoint,
        otlp.service_name,
        __version__,
        max_queue=otlp.queue_size,
        interval=otlp.export_interval_seconds,
        dropped=dropped.inc,
    )
    task = asyncio.get_running_loop().create_task(exporter.run())

    async def stop() -> None:
        await exporter.flush(FLUSH_SECONDS)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop)
    return Tracer(exporter.offer)
