"""One HTTP POST of a signed body to a webhook, and what came of it in our words.

2xx is delivered. Anything else is a failure named by its status (``HTTP 503``) or its kind
(``timeout``, ``connection failed``); the receiver's answer is never read (it may be large,
and it is none of our logs' business). Redirects are not followed: a webhook URL that moved is
a configuration change, not something to chase with a signed body.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import httpx

from kpr_gateway.tenancy.webhooks import WebhookTarget
from kpr_gateway.webhooks.errors import CaFileError
from kpr_gateway.webhooks.signing import DELIVERY_HEADER, SIGNATURE_HEADER, signature

USER_AGENT: Final = "kpr-gateway-webhooks/1"


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one POST met."""

    delivered: bool
    status_code: int | None = None
    """The HTTP status; None when no answer came."""
    error: str | None = None
    """Why it failed, in our words; None when delivered."""


class Sender(Protocol):
    async def send(self, target: WebhookTarget, body: bytes, delivery_id: str) -> Attempt:
        """POST ``body``, signed for ``target``, and say what came of it (never raises for
        what the receiver or the network did)."""

    async def aclose(self) -> None: ...


class HttpSender:
    """The ``Sender`` over httpx: one connection pool for every webhook."""

    def __init__(
        self,
        *,
        timeout_seconds: float,
        ca_file: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._client = httpx.AsyncClient(
            timeout=timeout_seconds,
            follow_redirects=False,
            verify=_tls_context(ca_file),
            headers={"User-Agent": USER_AGENT},
        )

    async def send(self, target: WebhookTarget, body: bytes, delivery_id: str) -> Attempt:
        headers = {
            "Content-Type": "application/json",
            DELIVERY_HEADER: delivery_id,
            SIGNATURE_HEADER: signature(target.secret, body, int(self._clock())),
        }
        try:
            # Streamed so that the answer's body is never read: the status is all we need.
            async with self._client.stream(
                "POST", target.url, content=body, headers=headers
            ) as response:
                status = response.status_code
        except httpx.TimeoutException:
            return Attempt(delivered=False, error="timeout")
        except httpx.ConnectError:
            return Attempt(delivered=False, error="connection failed")
        except httpx.HTTPError as exc:  # their texts may quote the URL's query: the type only
            return Attempt(delivered=False, error=f"{type(exc).__name__}")
        if 200 <= status < 300:
            return Attempt(delivered=True, status_code=status)
        if 300 <= status < 400:
            return Attempt(
                delivered=False, status_code=status, error=f"HTTP {status} (not followed)"
            )
        return Attempt(delivered=False, status_code=status, error=f"HTTP {status}")

    async def aclose(self) -> None:
        await self._client.aclose()


def _tls_context(ca_file: Path | None) -> ssl.SSLContext | bool:
    """httpx's own CA bundle (certifi), or the given CA file's certificates instead."""
    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise CaFileError(
            f"ca_file {ca_file} cannot be read as CA certificates ({type(exc).__name__})"
        ) from exc
