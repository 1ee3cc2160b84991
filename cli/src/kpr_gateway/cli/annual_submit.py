"""``kprgw annual submit``: upload a year's two files to intake, with a progress bar.

The multipart body is streamed from the files (a year is tens of MB: never read whole), with
its length known up front. ``--wait`` polls the submission until KPR's AppRec on the KPR_IPL
decides it. Exit codes: 0 sent (or, with ``--wait``, acknowledged), 1 refused by the check,
rejected or not delivered, or an error answer; 2 usage; 3 conflict (409: the year's current
submission is waiting for its AppRec, or was acknowledged and ``--replace`` is missing).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import typer

from kpr_gateway.cli.output import fail

EXIT_USAGE: Final = 2
EXIT_CONFLICT: Final = 3
CHUNK_BYTES: Final = 256 * 1024
FINAL_STATUSES: Final = frozenset(
    {"refused", "acknowledged", "acknowledged_with_errors", "rejected", "failed", "unknown"}
)
GOOD_STATUSES: Final = frozenset({"sending", "sent", "acknowledged", "acknowledged_with_errors"})


@dataclass(frozen=True, slots=True)
class UploadBody:
    """A multipart/form-data body streamed from files; ``length`` known before sending."""

    boundary: str
    fields: dict[str, str]
    files: dict[str, Path]

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _field_head(self, name: str) -> bytes:
        return (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        )

    def _file_head(self, name: str) -> bytes:
        return (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{name}.xml"\r\nContent-Type: application/xml\r\n\r\n'.encode()
        )

    def _tail(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode()

    @property
    def length(self) -> int:
        size = len(self._tail())
        for name, value in self.fields.items():
            size += len(self._field_head(name)) + len(value.encode()) + 2
        for name, path in self.files.items():
            size += len(self._file_head(name)) + path.stat().st_size + 2
        return size

    def stream(self, progress: Callable[[int], None]) -> Iterator[bytes]:
        for name, value in self.fields.items():
            yield self._field_head(name) + value.encode() + b"\r\n"
        for name, path in self.files.items():
            yield self._file_head(name)
            with path.open("rb") as source:
                while chunk := source.read(CHUNK_BYTES):
                    progress(len(chunk))
                    yield chunk
            yield b"\r\n"
        yield self._tail()


def upload_body(
    *,
    iplos: Path,
    ident: Path,
    year: int | None,
    environment: str | None,
    replace: bool,
    reason: str | None,
) -> UploadBody:
    fields: dict[str, str] = {}
    if year is not None:
        fields["year"] = str(year)
    if environment is not None:
        fields["environment"] = environment
    if replace:
        fields["replace"] = "true"
    if reason is not None:
        fields["reason"] = reason
    return UploadBody(
        boundary=f"kprgw-{secrets.token_hex(16)}",
        fields=fields,
        files={"iplos": iplos, "ident": ident},
    )


def send(
    client: httpx.Client,
    body: UploadBody,
    api_key: str,
    progress: Callable[[int], None],
) -> httpx.Response:
    return client.post(
        "/v1/annual-submissions",
        content=body.stream(progress),
        headers={
            "Authorization": f"Bearer {api_key}",
            "Content-Type": body.content_type,
            "Content-Length": str(body.length),
        },
    )


def wait_for_outcome(
    client: httpx.Client,
    location: str,
    api_key: str,
    *,
    interval: float,
    timeout: float,
    on_status: Callable[[str], None],
) -> dict[str, Any]:
    """Poll the submission until it has its outcome (or ``timeout`` seconds passed)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(location, headers={"Authorization": f"Bearer {api_key}"})
        if answer.status_code != 200:
            fail(f"reading {location}: HTTP {answer.status_code}: {_message(answer)}")
        body: dict[str, Any] = answer.json()
        on_status(body["status"])
        if body["status"] in FINAL_STATUSES or time.monotonic() >= deadline:
            return body
        time.sleep(interval)


def print_answer(body: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(body, ensure_ascii=False))
        return
    report = body["report"]
    typer.echo(
        f"submission {body['submission_id']}: {body['status']} (year {body['year']}, "
        f"{body['environment']}, {report['persons']} persons)"
    )
    for finding in report["findings"]:
        examples = f" e.g. {', '.join(finding['examples'])}" if finding["examples"] else ""
        typer.echo(f"  {finding['severity']} {finding['rule']}: {finding['count']}{examples}")
    if body.get("refusal_reason"):
        typer.echo(f"  refused: {body['refusal_reason']}")
    for message in body["messages"]:
        line = f"  {message['msg_type']} {message['msg_id']}: {message['state']}"
        receipt = message.get("receipt")
        if receipt:
            codes = ", ".join(
                f"{e['code']} {e.get('text') or ''}".strip() for e in receipt.get("errors", [])
            )
            line += f" (AppRec {receipt.get('status_code')}{': ' + codes if codes else ''})"
        typer.echo(line)


def exit_code(status: str) -> int:
    return 0 if status in GOOD_STATUSES else 1


def refusal(answer: httpx.Response) -> tuple[str, int]:
    """What a non-201 answer means for the user, and the exit code."""
    text = f"HTTP {answer.status_code}: {_message(answer)}"
    if answer.status_code == 409:
        details = _details(answer)
        named = details[0].get("submission_id") if details else None
        return (f"{text} (submission {named})" if named else text), EXIT_CONFLICT
    if answer.status_code == 422:
        reasons = "; ".join(f"{d.get('field')}: {d.get('reason')}" for d in _details(answer))
        return (f"{text} ({reasons})" if reasons else text), EXIT_USAGE
    return text, 1


def _details(answer: httpx.Response) -> list[dict[str, Any]]:
    try:
        details = answer.json().get("details", [])
    except ValueError:
        return []
    return [d for d in details if isinstance(d, dict)]


def _message(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("message", ""))
    except ValueError:
        return answer.text[:200]
