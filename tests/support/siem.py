"""Real receivers for security events: rsyslog over TLS (a private instance with its own config and a
test CA made here), a Splunk HEC-style HTTP receiver, and a dead sink that accepts and never reads."""

from __future__ import annotations

import datetime
import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.loopback import LoopbackServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_ca(directory: Path, server_name: str = "localhost") -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for `server_name` and 127.0.0.1: (ca, cert, key) files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "onshore test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(server_name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "server.pem", directory / "server-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


RSYSLOG_CONF = """
global(workDirectory="{work}"
       DefaultNetstreamDriver="gtls"
       DefaultNetstreamDriverCAFile="{ca}"
       DefaultNetstreamDriverCertFile="{cert}"
       DefaultNetstreamDriverKeyFile="{key}")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" port="{port}" address="127.0.0.1")
template(name="received" type="string" string="%pri% %app-name% %msgid% %msg%\\n")
action(type="omfile" file="{out}" template="received")
"""


class Rsyslog:
    """A private rsyslogd (foreground, its own config, pid file and work dir) receiving RFC 5425 TLS."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca, self.cert, self.key = make_ca(directory)
        self.port = free_port()
        self.out = directory / "received.log"
        (directory / "work").mkdir()
        self.conf = directory / "rsyslog.conf"
        self.conf.write_text(
            RSYSLOG_CONF.format(
                work=directory / "work", ca=self.ca, cert=self.cert, key=self.key, port=self.port, out=self.out
            )
        )
        self._process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("rsyslogd") is not None

    def start(self) -> Rsyslog:
        binary = shutil.which("rsyslogd")
        assert binary is not None
        self._log = (self.directory / "rsyslogd.out").open("wb")
        self._process = subprocess.Popen(
            [binary, "-n", "-f", str(self.conf), "-i", str(self.directory / "rsyslog.pid")],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._log.close()
                raise RuntimeError(f"rsyslogd exited: {(self.directory / 'rsyslogd.out').read_text()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("rsyslogd did not listen")

    def lines(self) -> list[str]:
        return self.out.read_text(encoding="utf-8").splitlines() if self.out.exists() else []

    def raw(self) -> bytes:
        return self.out.read_bytes() if self.out.exists() else b""

    def documents(self) -> list[dict[str, Any]]:
        return [json.loads(line[line.index("{") :]) for line in self.lines() if "{" in line]

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._log.close()


class HecReceiver(LoopbackServer):
    """A loopback HTTP receiver speaking the Splunk HEC event endpoint (token checked)."""

    def __init__(self, token: str) -> None:
        super().__init__("hec")
        self.token = token
        self.bodies: list[bytes] = []
        self.refused = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/services/collector/event"

    async def _event(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Splunk {self.token}":
            self.refused += 1
            return web.json_response({"text": "Invalid token", "code": 4}, status=403)
        self.bodies.append(await request.read())
        return web.json_response({"text": "Success", "code": 0})

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/services/collector/event", self._event)]

    def raw(self) -> bytes:
        return b"\n".join(self.bodies)

    def documents(self) -> list[dict[str, Any]]:
        """The OCSF events inside the HEC envelopes (one JSON object per line of a batch)."""
        out = []
        for body in self.bodies:
            for line in body.splitlines():
                envelope = json.loads(line)
                out.append(envelope["event"])
        return out


class DeadSink:
    """A TCP port that accepts connections and never reads or answers (a hung receiver)."""

    def __init__(self) -> None:
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port: int = self._server.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stop = False
        self._thread = threading.Thread(target=self._accept, name="dead-sink", daemon=True)

    def _accept(self) -> None:
        self._server.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            self._held.append(conn)

    def start(self) -> DeadSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop = True
        self._thread.join(5)
        for conn in self._held:
            conn.close()
        self._server.close()
