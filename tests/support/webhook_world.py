"""A small world for the webhooks tests: a tenants file whose EPJ clients have webhooks, KPR
messages with their receipts put in the ledger as intake, transform and receipts put them
there, and a real HTTP receiver that answers as each test scripts it.

Shared by the unit and integration tests of the webhooks service.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from starlette.requests import Request
from starlette.responses import Response

from kpr_gateway.ledger import BatchMessage, Ledger, NewEvent, ReceiptError, ReceiptOutcome
from kpr_gateway.observability import HealthServer
from kpr_gateway.pipeline.contracts import ReceiptError as NoticeError
from kpr_gateway.pipeline.contracts import ReceiptNotice
from kpr_gateway.pipeline.contracts import ReceiptOutcome as NoticeOutcome
from kpr_gateway.tenancy import TenantsFile, load_tenants
from tests.support.outbound_world import BERGEN, SECRET, bergen_entry

GERICA = "gerica-prod"
PROFIL = "profil-prod"
QUIET = "quiet-epj"
"""A client without a webhook."""
_OUTCOMES: dict[Literal[1, 2, 3], NoticeOutcome] = {
    1: "acknowledged",
    2: "rejected",
    3: "acknowledged_with_errors",
}


def client_secret(client_id: str) -> bytes:
    """Each client's signing secret (48 bytes), as its mounted file holds it."""
    return hashlib.sha256(client_id.encode()).hexdigest()[:48].encode()


def write_tenants(directory: Path, urls: Mapping[str, str | None]) -> TenantsFile:
    """bergen with one API-key client per entry of ``urls`` (None: no webhook)."""
    clients = []
    for client_id, url in urls.items():
        client: dict[str, Any] = {
            "id": client_id,
            "api_key_sha256": hashlib.sha256(client_id.encode()).hexdigest(),
        }
        if url is not None:
            secret_file = f"{client_id}.webhook-secret"
            # a trailing newline, as an editor or kubectl leaves it: not part of the key
            (directory / secret_file).write_bytes(client_secret(client_id) + b"\n")
            client["webhook"] = {"url": url, "secret_file": secret_file}
        clients.append(client)
    entry = bergen_entry(certificates=False, receiver=False) | {"epj_clients": clients}
    (directory / "secret.key").write_bytes(SECRET)
    path = directory / "tenants.yaml"
    path.write_text(yaml.safe_dump({"tenants": [entry]}), encoding="utf-8")
    return load_tenants(path)


@dataclass(frozen=True)
class SentMessage:
    msg_id: str
    events: dict[str | None, list[str]]
    """Client id -> the ids of the events it submitted (None: registered without a client)."""
    notice: ReceiptNotice


async def put_answered_message(
    ledger: Ledger,
    events_per_client: Mapping[str | None, int],
    *,
    status_code: Literal[1, 2, 3] = 2,
    tenant_id: str = BERGEN,
) -> SentMessage:
    """One KPR message carrying the clients' events, closed with an AppRec (rejected with
    an error by default), and the notice receipts publishes for it."""
    events: dict[str | None, list[str]] = {}
    for client_id, count in events_per_client.items():
        ids = [str(uuid.uuid4()) for _ in range(count)]
        await ledger.register_events(
            tenant_id, [NewEvent(e, f"hash-{e}") for e in ids], trace_id=None, client_id=client_id
        )
        events[client_id] = ids
    everything = [e for ids in events.values() for e in ids]
    msg_id = str(uuid.uuid4())
    commit = await ledger.commit_batch(
        tenant_id,
        batch_id=str(uuid.uuid4()),
        event_ids=everything,
        messages=[BatchMessage(msg_id, "KPR_IPL", b"<MsgHead/>")],
        trace_id=None,
        traceparent=None,
    )
    assert commit.committed
    received_at = datetime(2026, 1, 6, 8, 30, tzinfo=UTC)
    errors = [] if status_code == 1 else [ReceiptError(code="X99", system="8221", text="Avvist")]
    await ledger.record_receipt(
        tenant_id,
        msg_id,
        ReceiptOutcome(
            kind="apprec", received_at=received_at, status_code=status_code, errors=errors
        ),
        trace_id=None,
    )
    notice = ReceiptNotice(
        tenant_id=tenant_id,
        msg_id=uuid.UUID(msg_id),
        outcome=_OUTCOMES[status_code],
        status_code=status_code,
        errors=[NoticeError(code=e.code, system=e.system, text=e.text) for e in errors],
        received_at=received_at,
    )
    return SentMessage(msg_id, events, notice)


def verify_as_an_epj_would(
    secret: bytes, headers: Mapping[str, str], body: bytes, *, now: float, tolerance: float = 300
) -> bool:
    """The documented check, written from the README alone: parse ``t`` and ``v1`` from
    ``KPRGW-Signature``, refuse an old timestamp, compare HMAC-SHA256(secret, "<t>." + body)
    in constant time."""
    fields = dict(part.split("=", 1) for part in headers["kprgw-signature"].split(","))
    timestamp = int(fields["t"])
    if abs(now - timestamp) > tolerance:
        return False
    expected = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes = field(repr=False)

    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class Receiver:
    """A real HTTP server on a free local port: ``/hooks/<client>`` answers the statuses
    scripted for the client in turn (the last one repeats; 200 when none), and records every
    request."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._script: dict[str, deque[int]] = defaultdict(deque)
        self._server = HealthServer(self, "127.0.0.1", 0)

    def url(self, client_id: str) -> str:
        return f"http://127.0.0.1:{self._server.port}/hooks/{client_id}"

    def answer(self, client_id: str, statuses: Iterable[int]) -> None:
        self._script[client_id] = deque(statuses)

    def of(self, client_id: str) -> list[Received]:
        return [r for r in self.requests if r.path == f"/hooks/{client_id}"]

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        await self._server.stop()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """The ASGI app itself (uvicorn tells ASGI 3 by an async ``__call__``)."""
        request = Request(scope, receive)
        body = await request.body()
        self.requests.append(Received(request.url.path, dict(request.headers), body))
        client_id = request.url.path.rsplit("/", 1)[-1]
        script = self._script[client_id]
        status = script.popleft() if len(script) > 1 else (script[0] if script else 200)
        await Response(b"receiver's own words, never logged", status_code=status)(
            scope, receive, send
        )
