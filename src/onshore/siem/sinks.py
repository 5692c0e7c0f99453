"""Where security events go: an NDJSON file (or stdout), syslog over TLS, Splunk HEC.

Each sink sends one batch per call and raises on any failure; the emitter's lane backs off and
retries, and a sink reconnects on the next call after a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import aiohttp
import msgspec

from onshore.events.cef import to_cef

log = logging.getLogger("onshore.siem")
_encoder = msgspec.json.Encoder()
# OCSF severity_id -> syslog severity (RFC 5424 6.2.1): Informational 6, Low 5 notice, Medium 4
# warning, High 3 error, Critical 2 critical.
_SYSLOG_SEVERITY = {1: 6, 2: 5, 3: 4, 4: 3, 5: 2, 6: 1}


def ndjson_line(document: dict[str, Any]) -> bytes:
    return _encoder.encode(document) + b"\n"


class NdjsonSink:
    """One JSON object per line, appended to a file (written on a thread) or to stdout ("-")."""

    def __init__(self, path: str) -> None:
        self.name = "ndjson"
        self._path = None if path == "-" else Path(path)

    async def send(self, documents: list[dict[str, Any]]) -> None:
        data = b"".join(ndjson_line(d) for d in documents)
        if self._path is None:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        await asyncio.to_thread(self._append, self._path, data)

    @staticmethod
    def _append(path: Path, data: bytes) -> None:
        with path.open("ab") as f:
            f.write(data)
            f.flush()

    async def aclose(self) -> None:
        return None


def tls_context(ca_file: str | None, cert_file: str | None, key_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file is not None:
        context.load_cert_chain(cert_file, key_file)
    return context


SyslogFormat = Literal["ocsf", "cef"]


def _cef_bytes(document: dict[str, Any]) -> bytes:
    return to_cef(document).encode("utf-8")


# What a syslog message carries: the OCSF JSON, or the same facts as a CEF line.
_MESSAGE: dict[SyslogFormat, Callable[[dict[str, Any]], bytes]] = {"ocsf": _encoder.encode, "cef": _cef_bytes}


def rfc5424(
    document: dict[str, Any],
    *,
    facility: int,
    hostname: str,
    app_name: str,
    procid: str,
    message_format: SyslogFormat = "ocsf",
) -> bytes:
    """One RFC 5424 message: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG (OCSF JSON or CEF)."""
    code = document.get("metadata", {}).get("event_code", "-")
    severity = _SYSLOG_SEVERITY.get(int(document.get("severity_id", 1)), 6)
    stamp = datetime.fromtimestamp(document["time"] / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    header = f"<{facility * 8 + severity}>1 {stamp} {hostname} {app_name} {procid} {code[:32]} - "
    return header.encode("ascii", "replace") + _MESSAGE[message_format](document)


def octet_counted(message: bytes) -> bytes:
    """RFC 5425 framing: MSG-LEN SP SYSLOG-MSG."""
    return str(len(message)).encode("ascii") + b" " + message


class SyslogTlsSink:
    """Syslog over TCP with TLS (RFC 5425): one connection, kept open, reopened after a failure."""

    def __init__(
        self,
        host: str,
        port: int,
        context: ssl.SSLContext,
        *,
        server_name: str | None = None,
        facility: int = 13,  # log audit
        app_name: str = "onshore",
        hostname: str | None = None,
        timeout: float = 5.0,
        message_format: SyslogFormat = "ocsf",
    ) -> None:
        self.name = "syslog"
        self._format: SyslogFormat = message_format
        self._host, self._port, self._context = host, port, context
        self._server_name = server_name or host
        self._facility, self._app_name = facility, app_name
        self._hostname = hostname or socket.gethostname() or "-"
        self._procid = str(os.getpid())
        self._timeout = timeout
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> asyncio.StreamWriter:
        if self._writer is not None and not self._writer.is_closing():
            return self._writer
        connecting = asyncio.open_connection(
            self._host, self._port, ssl=self._context, server_hostname=self._server_name
        )
        _, writer = await asyncio.wait_for(connecting, self._timeout)
        self._writer = writer
        return writer

    async def send(self, documents: list[dict[str, Any]]) -> None:
        frames = b"".join(
            octet_counted(
                rfc5424(
                    d,
                    facility=self._facility,
                    hostname=self._hostname,
                    app_name=self._app_name,
                    procid=self._procid,
                    message_format=self._format,
                )
            )
            for d in documents
        )
        try:
            writer = await self._connect()
            writer.write(frames)
            await asyncio.wait_for(writer.drain(), self._timeout)
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(TimeoutError, OSError, ssl.SSLError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)


class HecError(Exception):
    """Splunk HEC did not take a batch (retried)."""


class HecSink:
    """Splunk HTTP Event Collector: a batch is one POST of concatenated event objects."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        context: ssl.SSLContext | None,
        index: str | None = None,
        sourcetype: str = "ocsf",
        timeout: float = 10.0,
    ) -> None:
        self.name = "splunk_hec"
        self._url = url
        self._headers = {"Authorization": f"Splunk {token}", "Content-Type": "application/json"}
        self._context = context
        self._index, self._sourcetype = index, sourcetype
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._context if self._context is not None else True)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    def body(self, documents: list[dict[str, Any]]) -> bytes:
        events = []
        for d in documents:
            envelope: dict[str, Any] = {
                "time": d["time"] / 1000,
                "source": "onshore",
                "sourcetype": self._sourcetype,
                "event": d,
            }
            if self._index is not None:
                envelope["index"] = self._index
            events.append(_encoder.encode(envelope))
        return b"\n".join(events)

    async def send(self, documents: list[dict[str, Any]]) -> None:
        session = self._open()
        async with session.post(self._url, data=self.body(documents), headers=self._headers) as response:
            if response.status == 400:  # the batch itself is malformed: retrying cannot help
                log.error("Splunk HEC refused a batch of %d events (400); dropped", len(documents))
            elif response.status >= 300:
                raise HecError(f"Splunk HEC answered {response.status}")

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
