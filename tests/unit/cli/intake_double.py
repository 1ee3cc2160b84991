"""A stand-in for the intake's ``POST /v1/events/batch``, served on 127.0.0.1 from a thread.

It answers as the intake does (``BatchResult``: 202 per valid notification, ``repeat`` for an
event id seen before, 422 with ``describe_errors`` reasons otherwise, 401 for another key),
records every request, and follows a script: answer request n with a status, or hold every
request from the n-th on until released (to interrupt a run mid-flight).
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kpr_gateway.messages.iplos_kpr import Notification, describe_errors
from kpr_gateway.observability import HealthServer

API_KEY = "kprgw_test-key-for-the-backfill"


@dataclass
class Received:
    event_ids: list[str]
    lines: int
    content_type: str


@dataclass
class IntakeDouble:
    forced: dict[int, tuple[int, dict[str, str]]] = field(default_factory=dict)
    """Request number (from 0) -> the status and headers to answer it with instead."""
    hold_from: int | None = None
    """Requests from this number on wait until ``release`` is set."""
    release: threading.Event = field(default_factory=threading.Event)
    requests: list[Received] = field(default_factory=list)
    answered: int = 0
    seen: set[str] = field(default_factory=set)
    record: bool = True
    """False: keep nothing per request or event (for measuring the client's memory)."""

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/events/batch", self._batch, methods=["POST"])])

    @property
    def event_ids(self) -> list[str]:
        """Every event id received, in arrival order, repeats included."""
        return [e for r in self.requests for e in r.event_ids]

    async def _batch(self, request: Request) -> JSONResponse:
        number = len(self.requests)
        body = await request.body()
        lines = [line for line in body.split(b"\n") if line.strip()]
        if not self.record:  # accept without reading: only the client's memory is measured
            return JSONResponse(
                {
                    "results": [
                        {"index": i, "status_code": 202, "status": "received", "repeat": False}
                        for i in range(len(lines))
                    ]
                }
            )
        notifications: list[Notification | ValidationError] = []
        for line in lines:
            try:
                notifications.append(Notification.model_validate_json(line))
            except ValidationError as exc:
                notifications.append(exc)
        received = Received(
            [str(n.event_id) for n in notifications if isinstance(n, Notification)],
            len(lines),
            request.headers.get("content-type", ""),
        )
        if self.record:
            self.requests.append(received)
        if self.hold_from is not None and number >= self.hold_from:
            while not self.release.is_set():
                await asyncio.sleep(0.01)
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return JSONResponse({"error": "unauthorized", "message": "no such key"}, 401)
        if number in self.forced:
            status, headers = self.forced[number]
            return JSONResponse({"error": "forced", "message": "as scripted"}, status, headers)
        results = [
            self._result(index, n, line)
            for index, (n, line) in enumerate(zip(notifications, lines, strict=True))
        ]
        accepted = sum(1 for r in results if r["status_code"] == 202)
        self.answered += 1
        return JSONResponse(
            {
                "accepted": accepted,
                "rejected": len(results) - accepted,
                "trace_id": None,
                "results": results,
            }
        )

    def _result(
        self, index: int, item: Notification | ValidationError, line: bytes
    ) -> dict[str, object]:
        if isinstance(item, ValidationError):
            return {
                "index": index,
                "event_id": _claimed_event_id(line),
                "status_code": 422,
                "status": "invalid",
                "errors": [{"reason": "the event is not valid"}, *describe_errors(item)],
            }
        event_id = str(item.event_id)
        repeat = event_id in self.seen
        if self.record:
            self.seen.add(event_id)
        return {
            "index": index,
            "event_id": event_id,
            "status_code": 202,
            "status": "accepted" if repeat else "received",
            "repeat": repeat,
            "errors": [],
        }


def _claimed_event_id(line: bytes) -> str | None:
    """The intake names a refused event by its id when the line has a well-formed one."""
    try:
        value = json.loads(line).get("event_id")
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None


@contextmanager
def serving(double: IntakeDouble) -> Iterator[str]:
    """Serve ``double`` on a free port of 127.0.0.1 from a thread; yields its base URL."""
    started = threading.Event()
    stop = threading.Event()
    port: list[int] = []
    failure: list[BaseException] = []

    async def main() -> None:
        async with HealthServer(double.app(), "127.0.0.1", 0) as server:
            port.append(server.port)
            started.set()
            while not stop.is_set():
                await asyncio.sleep(0.01)

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:
            failure.append(exc)
            started.set()

    thread = threading.Thread(target=run, name="intake-double", daemon=True)
    thread.start()
    started.wait(10)
    if failure or not port:
        raise RuntimeError("the intake double did not start") from (failure[0] if failure else None)
    try:
        yield f"http://127.0.0.1:{port[0]}"
    finally:
        double.release.set()
        stop.set()
        thread.join(10)
