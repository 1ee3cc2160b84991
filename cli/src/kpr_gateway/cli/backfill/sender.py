"""Posting one batch to ``POST /v1/events/batch``, with retries where waiting helps.

429 (the client's rate limit) and 503 (the gateway cannot reach its ledger or queue) are
retried after ``Retry-After`` when the API gives one, else with exponential backoff, as are
connection failures and timeouts. Any other answer stops the run with a reason: retrying a
refused key or a malformed request only repeats the refusal.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import httpx

from kpr_gateway.cli.backfill.answers import BatchOutcome, read_answer
from kpr_gateway.cli.backfill.errors import BackfillStoppedError
from kpr_gateway.cli.backfill.reader import Batch

BATCH_PATH: Final = "/v1/events/batch"
RETRIED: Final = frozenset({429, 503})
_MEANING: Final = {
    400: "the request was refused as malformed",
    401: "the API key was not accepted",
    403: "the API key may not submit events for this tenant",
    413: "the batch is too large for the API: lower --batch-size",
}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 8
    """Tries per batch, the first included."""
    base_seconds: float = 0.5
    cap_seconds: float = 30.0

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before try ``attempt + 1`` (``attempt`` from 1)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap_seconds)
        ceiling = min(self.cap_seconds, self.base_seconds * 2.0 ** (attempt - 1))
        # Full jitter (half to all of the ceiling): parallel requests do not retry in step.
        jitter: float = random.random()  # noqa: S311 - timing, not secrets
        return ceiling * (0.5 + jitter / 2)


class BatchSender:
    def __init__(
        self,
        client: httpx.AsyncClient,
        api_key: str,
        *,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_retry: Callable[[str], None] = lambda _: None,
    ) -> None:
        self._client = client
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/x-ndjson",
        }
        self._retry = retry
        self._sleep = sleep
        self._on_retry = on_retry
        self.retries = 0

    async def send(self, batch: Batch) -> BatchOutcome:
        where = batch.where
        body = batch.body
        headers = {**self._headers, "Content-Length": str(len(body))}
        for attempt in range(1, self._retry.attempts + 1):
            try:
                status, retry_after, answer = await self._post(body, headers)
            except httpx.TransportError as exc:
                problem, retry_after = f"{type(exc).__name__} (no answer)", None
            else:
                if status == 200:
                    return read_answer(batch, answer)
                if status not in RETRIED:
                    raise BackfillStoppedError(f"{where}: {_describe(status, answer)}")
                problem = f"HTTP {status}"
            if attempt == self._retry.attempts:
                raise BackfillStoppedError(f"{where}: {problem}, gave up after {attempt} tries")
            self.retries += 1
            self._on_retry(f"{where}: {problem}, trying again")
            await self._sleep(self._retry.backoff(attempt, retry_after))
        raise AssertionError("unreachable: the loop returns or raises")

    async def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, float | None, bytes]:
        """The status, Retry-After and body of one POST.

        httpx's request and response objects sit in reference cycles, freed only when the
        garbage collector gets to them, which for the oldest generation can take hundreds of
        batches: so neither may hold a batch. The body goes in through a one-shot stream
        (with its Content-Length, not chunked) and the answer is read into our own bytes.
        """
        async with self._client.stream(
            "POST", BATCH_PATH, content=_once(body), headers=headers
        ) as response:
            answer = b"".join([part async for part in response.aiter_bytes()])
            return response.status_code, _retry_after(response), answer


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return float(value)
    except ValueError:
        return None  # absent, or an HTTP date: back off by our own schedule


def _describe(status: int, answer: bytes) -> str:
    """The status, what it means here, and the API's error code and message (which name
    fields and limits, never values)."""
    text = f"HTTP {status}"
    if status in _MEANING:
        text += f" ({_MEANING[status]})"
    try:
        body = json.loads(answer)
    except ValueError:
        return text
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        message = body.get("message")
        text += f": {body['error']}"
        if isinstance(message, str):
            text += f": {message[:200]}"
    return text
