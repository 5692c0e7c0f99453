"""Credentials that must be fetched at run time: Entra ID tokens for Azure OpenAI.

A token is fetched with the client-credentials grant, cached, and refreshed five minutes before it
expires; concurrent requests share one refresh. A failed sign-in fails the attempt (the router may
then fail over to the next compliant backend), never sends the request unauthenticated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

import aiohttp


class CredentialError(Exception):
    pass


class CredentialProvider(Protocol):
    async def headers(self) -> dict[str, str]: ...


class EntraTokenProvider:
    _REFRESH_EARLY = 300.0

    def __init__(
        self,
        session: aiohttp.ClientSession,
        authority: str,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        scope: str,
        monotonic: Callable[[], float],
    ) -> None:
        self._session = session
        self._url = f"{authority.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": scope,
        }
        self._monotonic = monotonic
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def headers(self) -> dict[str, str]:
        if self._token is None or self._monotonic() >= self._expires:
            async with self._lock:
                if self._token is None or self._monotonic() >= self._expires:
                    await self._refresh()
        return {"Authorization": f"Bearer {self._token}"}

    async def _refresh(self) -> None:
        try:
            async with self._session.post(
                self._url, data=self._form, timeout=aiohttp.ClientTimeout(total=15)
            ) as response:
                document = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise CredentialError(f"Entra ID sign-in failed ({type(exc).__name__})") from None
        if status != 200 or not isinstance(document, dict) or not isinstance(document.get("access_token"), str):
            code = document.get("error") if isinstance(document, dict) else None
            raise CredentialError(f"Entra ID sign-in was refused (HTTP {status}{', ' + str(code) if code else ''})")
        lifetime = document.get("expires_in", 3600)
        try:
            seconds = float(lifetime)
        except (TypeError, ValueError):
            seconds = 3600.0
        self._token = document["access_token"]
        self._expires = self._monotonic() + max(30.0, seconds - self._REFRESH_EARLY)
