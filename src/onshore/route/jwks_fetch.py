"""Fetching an identity provider's JWKS: the one network call of token verification.

No redirects (a JWKS URL that moves is a configuration change, not something to follow), a size cap
read before parsing, and a short timeout. What the bytes mean is identify/oidc/jwks.py's business.
"""

from __future__ import annotations

import aiohttp

MAX_JWKS_BYTES = 256 * 1024
TIMEOUT_SECONDS = 5.0


class JwksFetchError(Exception):
    pass


async def fetch_jwks(session: aiohttp.ClientSession, url: str, max_bytes: int = MAX_JWKS_BYTES) -> bytes:
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    try:
        async with session.get(
            url, allow_redirects=False, timeout=timeout, headers={"Accept": "application/json"}
        ) as response:
            if 300 <= response.status < 400:
                raise JwksFetchError(f"HTTP {response.status}: redirects are not followed")
            if response.status != 200:
                raise JwksFetchError(f"HTTP {response.status}")
            if response.content_length is not None and response.content_length > max_bytes:
                raise JwksFetchError(f"larger than {max_bytes} bytes")
            body = bytearray()
            async for chunk in response.content.iter_chunked(65536):
                body += chunk
                if len(body) > max_bytes:  # without a Content-Length, stop reading at the cap
                    raise JwksFetchError(f"larger than {max_bytes} bytes")
            return bytes(body)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise JwksFetchError(type(exc).__name__) from None
