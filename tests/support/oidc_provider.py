"""A real OpenID provider (npm oidc-provider, tests/support/oidc/server.js) on loopback, for tests.

`npm ci` installs the locked version into tests/support/oidc/node_modules the first time. Each
issuer is described by an `IssuerSpec` (its path, token audience, signing algorithm and clients with
the extra claims their tokens carry), so one provider process can imitate Entra ID, Okta and
Keycloak side by side. Tokens come from the client-credentials grant, as a real client gets them;
an issuer with `users` also signs people in by the authorization code flow with PKCE (a browser).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "oidc"


@dataclass
class ClientSpec:
    client_id: str
    client_secret: str
    claims: dict[str, Any] = field(default_factory=dict)  # merged into the access token
    remove: list[str] = field(default_factory=list)  # standard claims this IdP does not send
    redirect_uris: list[str] = field(default_factory=list)  # set: an authorization-code client (PKCE)


@dataclass
class UserSpec:
    """A person who signs in through the provider's login page (the code flow)."""

    sub: str
    claims: dict[str, Any] = field(default_factory=dict)  # in the ID token (name, roles, ...)


@dataclass
class IssuerSpec:
    name: str
    path: str  # the issuer URL's path, e.g. /entra/<tid>/v2.0
    resource: str  # the audience requested
    clients: list[ClientSpec]
    alg: str = "RS256"
    ttl: int = 300
    users: list[UserSpec] = field(default_factory=list)


def node_available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def install() -> None:
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True, timeout=300)


class OidcProvider:
    def __init__(self, issuers: list[IssuerSpec]) -> None:
        self.specs = {spec.name: spec for spec in issuers}
        self._config = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)  # noqa: SIM115
        json.dump({"issuers": [_spec_json(spec) for spec in issuers]}, self._config)
        self._config.close()
        self._process: subprocess.Popen[str] | None = None
        self.base = ""
        self._stderr: list[str] = []

    def start(self) -> OidcProvider:
        install()
        self._process = subprocess.Popen(
            ["node", str(HERE / "server.js"), self._config.name],
            cwd=HERE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None and self._process.stderr is not None
        threading.Thread(target=self._drain, args=(self._process.stderr,), daemon=True).start()
        line = self._process.stdout.readline()
        if not line:
            self._process.wait(10)
            raise RuntimeError(f"oidc-provider did not start: {''.join(self._stderr)}")
        self.base = json.loads(line)["base"]
        return self

    def _drain(self, stream: Any) -> None:
        for line in stream:
            self._stderr.append(line)

    def stop(self) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
            self._process.wait(10)
            for stream in (self._process.stdout, self._process.stderr):
                if stream is not None:
                    stream.close()
        Path(self._config.name).unlink(missing_ok=True)

    # --- what a client and a gateway see ------------------------------------------------------
    def issuer(self, name: str) -> str:
        return self.base + self.specs[name].path

    def jwks_url(self, name: str) -> str:
        return self.issuer(name) + "/jwks"

    def token(self, name: str, client_id: str) -> str:
        client = next(c for c in self.specs[name].clients if c.client_id == client_id)
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client.client_secret}
        answer = self._post(self.issuer(name) + "/token", urllib.parse.urlencode(form).encode(), "form")
        return str(answer["access_token"])

    # --- test controls ------------------------------------------------------------------------
    def rotate(self, name: str, keep_old: bool = True) -> str:
        return str(self._control("rotate", {"issuer": name, "keep_old": keep_old})["kid"])

    def sign(self, name: str, payload: dict[str, Any], header: dict[str, Any] | None = None) -> str:
        """A token signed with the issuer's real current key: header and claims exactly as given."""
        return str(self._control("sign", {"issuer": name, "payload": payload, "header": header or {}})["token"])

    def jwks_mode(self, name: str, mode: str) -> None:
        self._control("jwks", {"issuer": name, "mode": mode})

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.base + "/_control/stats", timeout=10) as response:
            return dict(json.load(response))

    def jwks_fetches(self, name: str) -> int:
        return int(self.stats()[name]["jwks_fetches"])

    def _control(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._post(f"{self.base}/_control/{action}", json.dumps(body).encode(), "json")

    def _post(self, url: str, data: bytes, kind: str) -> dict[str, Any]:
        content_type = "application/json" if kind == "json" else "application/x-www-form-urlencoded"
        request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return dict(json.load(response))
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{url}: HTTP {exc.code}: {exc.read().decode(errors='replace')}") from None


def _spec_json(spec: IssuerSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "path": spec.path,
        "resource": spec.resource,
        "alg": spec.alg,
        "ttl": spec.ttl,
        "clients": [vars(c) for c in spec.clients],
        "users": [vars(u) for u in spec.users],
    }
