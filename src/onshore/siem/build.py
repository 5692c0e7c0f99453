"""Security events from the configuration: the sinks, the emitter a gateway runs, and a one-shot
delivery for CLI commands (keys, audit verify) that have no gateway loop to drain a queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from onshore import __version__
from onshore.events.model import SecurityEvent
from onshore.events.ocsf import to_ocsf
from onshore.ids import uuid7
from onshore.settings import SecurityEventsSettings, Settings
from onshore.siem.emitter import Emitter, Sink
from onshore.siem.sinks import HecSink, NdjsonSink, SyslogTlsSink, tls_context

log = logging.getLogger("onshore.siem")


def render(event: SecurityEvent) -> dict[str, object]:
    return to_ocsf(event, __version__, uuid7(int(event.time * 1000)))


def build_sinks(config: SecurityEventsSettings, settings: Settings) -> list[Sink]:
    sinks: list[Sink] = []
    if config.ndjson is not None:
        sinks.append(NdjsonSink(config.ndjson.path))
    if config.syslog is not None:
        s = config.syslog
        context = tls_context(s.ca_file, s.client_cert_file, s.client_key_file)
        sinks.append(
            SyslogTlsSink(
                s.host,
                s.port,
                context,
                server_name=s.server_name,
                facility=s.facility,
                app_name=s.app_name,
                message_format=s.format,
            )
        )
    if config.splunk_hec is not None:
        h = config.splunk_hec
        hec_context = tls_context(h.ca_file, None, None) if h.ca_file else None
        token = settings.secrets["#splunk_hec"].value
        sinks.append(HecSink(h.url, token, context=hec_context, index=h.index, sourcetype=h.sourcetype))
    return sinks


def build_emitter(settings: Settings, now: Callable[[], float], on_drop: Callable[[str], None]) -> Emitter | None:
    config = settings.gateway.security_events
    if config is None:
        return None
    sinks = build_sinks(config, settings)
    if not sinks:
        return None
    return Emitter(
        sinks,
        render,
        now,
        queue_size=config.queue_size,
        report_every=config.dropped_report_seconds,
        on_drop=on_drop,
    )


def deliver_now(settings: Settings, events: Iterable[SecurityEvent], timeout: float = 5.0) -> list[str]:
    """Send events from a CLI command, each sink bounded by `timeout`; the sinks that failed, by name."""
    config = settings.gateway.security_events
    if config is None:
        return []
    batch = list(events)

    async def run() -> list[str]:
        failed = []
        for sink in build_sinks(config, settings):
            try:
                await asyncio.wait_for(sink.send([render(e) for e in batch]), timeout)
            except Exception as exc:  # noqa: BLE001 - the command's own work is done; say what was not sent
                log.warning("security events sink %s: %s", sink.name, type(exc).__name__)
                failed.append(sink.name)
            finally:
                await sink.aclose()
        return failed

    return asyncio.run(run()) if batch else []
