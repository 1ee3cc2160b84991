"""Read a large XML file in one validating pass with bounded memory.

lxml's ``iterparse`` validates against the schema while it reads; the elements a reader asks
for are handed over at their end and cleared afterwards, with everything before them, so
memory follows one element, not the file. libxml2 reports schema errors found while
streaming without line numbers (and lxml raises them together when the file ends), so a file
that has any is read a second time, a line at a time, only until the first few errors are
placed: that pass is the only one that knows lines, and it runs for invalid files only.

Problems name the line, the element (or attribute) and libxml2's kind of error, never the
value: it could be a national id. Used by ``iplos_annual`` and ``xpr_ide``.

Entities: a DOCTYPE is refused before parsing (it must come before the root element, so the
file's first 64 KiB tell), so no entity can be declared and only XML's predefined ones
remain. The parser then runs with ``resolve_entities="internal"``, not ``False``: with lxml
6.1 and libxml2 2.14, ``False`` together with a validating ``iterparse`` swallows
well-formedness errors (a truncated file reads as complete and valid; a tag mismatch
becomes "no element found" at line 0), which the tests hold against.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from lxml import etree

from kpr_gateway.messages.errors import MessagesError

MAX_SCHEMA_ERRORS: Final = 10_000
"""Reading stops after this many schema errors: the file is wrong throughout, and their
log would grow with it."""
MAX_LOCATED: Final = 5
"""How many schema errors the second pass places on their lines."""

_SCHEMA_DOMAIN: Final = etree.ErrorDomains.SCHEMASV
_ELEMENT: Final = re.compile(
    r"Element '(?:\{[^}]*\})?([A-Za-z_][\w.-]*)'(?:, attribute '(?:\{[^}]*\})?([A-Za-z_][\w.-]*)')?"
)
_PROLOG_BYTES: Final = 1 << 16
_DOCTYPE_MARKERS: Final = tuple(
    "<!DOCTYPE".encode(codec) for codec in ("ascii", "utf-16-le", "utf-16-be")
)
_LINE_READ: Final = 1 << 16
_LOOK_AT_LOG_EVERY: Final = 1_000
"""The longest piece of one line the locating pass feeds at a time."""


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    """One way the file breaks its schema: where, what, and libxml2's kind of error."""

    line: int | None
    """The line the parser was reading when it found the error; None when not placed."""
    element: str | None
    """The element's local name, ``element/@attribute`` for an attribute; None if unnamed."""
    kind: str
    """libxml2's error type, e.g. ``SCHEMAV_CVC_DATATYPE_VALID_1_2_1``; ``ERR_NOT_WELL_FORMED``
    when the file is not well-formed, ``DOCTYPE_NOT_ACCEPTED`` for a DOCTYPE."""

    def describe(self, file_label: str) -> str:
        """``file:line element (kind)``: what a report may show."""
        line = "?" if self.line is None else str(self.line)
        return f"{file_label}:{line} {self.element or '(document)'} ({self.kind})"


@dataclass(slots=True)
class StreamOutcome:
    """What one pass found: the number of schema errors, the first ones placed on their
    lines, and whether the file was read to its end (well-formed, and not given up on)."""

    error_count: int = 0
    problems: list[SchemaProblem] = field(default_factory=list)
    complete: bool = False

    @property
    def valid(self) -> bool:
        return self.complete and self.error_count == 0


class ValidatingStream:
    """One pass over ``path`` validating against ``schema``; iterating yields each element
    named in ``tags`` at its end. Those also named in ``release`` (the units of the file, a
    person) are cleared, with everything before them, once the consumer asks for the next;
    the others (fields inside a unit, handed over on their own because lxml makes that
    cheaper than searching the unit) go with their unit. Iterate once; ``outcome`` is final
    when iteration ends.

    I/O errors raise ``error_type``; everything wrong inside the file is in ``outcome``.
    """

    def __init__(
        self,
        path: Path,
        schema: etree.XMLSchema,
        tags: Sequence[str],
        *,
        release: Sequence[str],
        error_type: type[MessagesError],
        max_errors: int = MAX_SCHEMA_ERRORS,
        max_located: int = MAX_LOCATED,
    ) -> None:
        self._path = path
        self._schema = schema
        self._tags = tuple(tags)
        self._release = frozenset(release)
        self._error_type = error_type
        self._max_errors = max_errors
        self._max_located = max_located
        self.outcome = StreamOutcome()

    def __iter__(self) -> Iterator[etree._Element]:
        try:
            source = self._path.open("rb")
        except OSError as exc:
            raise self._error_type(f"{self._path.name}: cannot be read ({exc.strerror})") from exc
        with source:
            head = source.read(_PROLOG_BYTES)
            source.seek(0)
            if any(marker in head for marker in _DOCTYPE_MARKERS):
                self._refuse_doctype()
                return
            yield from self._read(source)
        if self.outcome.error_count and self._max_located:
            located = _locate(self._path, self._schema, self._max_located)
            self.outcome.problems = located or self.outcome.problems

    def _read(self, source: Any) -> Iterator[etree._Element]:
        # Every element's end, not only the wanted ones': whatever stands directly under the
        # root is freed when it ends (an element the schema does not know, say, millions of
        # them), and the error log is looked at by elements read, so neither memory nor time
        # grows with what the file holds beyond its records.
        context = etree.iterparse(
            source,
            events=("end",),
            schema=self._schema,
            huge_tree=False,
            resolve_entities="internal",  # see the module's docstring
            no_network=True,
            load_dtd=False,
            remove_comments=True,
            remove_pis=True,
        )
        root: etree._Element | None = None
        read = 0
        wanted, release = frozenset(self._tags), self._release
        try:
            for _, element in context:
                if root is None:
                    if _has_doctype(element):
                        self._refuse_doctype()
                        return
                    root = element.getroottree().getroot()
                tag = element.tag
                if tag in wanted:
                    yield element
                if tag in release or element.getparent() is root:
                    _release(element)
                read += 1
                # The log is copied on each access: look at it now and then only.
                if read % _LOOK_AT_LOG_EVERY == 0:
                    error_log: Any = context.error_log  # lxml-stubs leave _ErrorLog empty
                    if len(error_log) > self._max_errors:
                        self._give_up(error_log)
                        return
        except etree.XMLSyntaxError as exc:
            # The parse's own log: the exception's may carry the thread's earlier errors.
            entries: list[Any] = list(context.error_log)
            self._ended_with(exc, entries)
            return
        self.outcome.complete = True

    def _ended_with(self, exc: etree.XMLSyntaxError, entries: list[Any]) -> None:
        schema_errors = [e for e in entries if e.domain == _SCHEMA_DOMAIN]
        fatal = [e for e in entries if e.domain != _SCHEMA_DOMAIN and e.level >= _ERROR]
        self.outcome.error_count = len(schema_errors) + (1 if fatal or not entries else 0)
        self.outcome.problems = [_problem(e, None) for e in schema_errors[: self._max_located]]
        if fatal or not entries:
            # Not well-formed (or an I/O error inside libxml2): reading stopped at the line.
            line = exc.lineno if exc.lineno else None
            kind = fatal[0].type_name if fatal else "ERR_NOT_WELL_FORMED"
            self.outcome.problems.insert(0, SchemaProblem(line, None, kind))
            return
        # Only schema errors: libxml2 read on to the end and raised them together.
        self.outcome.complete = True

    def _give_up(self, error_log: Any) -> None:
        entries: list[Any] = [e for e in error_log if e.domain == _SCHEMA_DOMAIN]
        self.outcome.error_count = len(entries)
        self.outcome.problems = [_problem(e, None) for e in entries[: self._max_located]]

    def _refuse_doctype(self) -> None:
        self.outcome.error_count = 1
        self.outcome.problems = [SchemaProblem(1, None, "DOCTYPE_NOT_ACCEPTED")]


_ERROR: Final = etree.ErrorLevels.ERROR


def _release(element: etree._Element) -> None:
    """Free ``element`` and every sibling before it: memory stays at one element."""
    element.clear()
    parent = element.getparent()
    if parent is None:
        return
    while element.getprevious() is not None:
        del parent[0]


def _has_doctype(element: etree._Element) -> bool:
    docinfo: Any = element.getroottree().docinfo  # lxml-stubs lack doctype/internalDTD
    return bool(docinfo.doctype) or docinfo.internalDTD is not None


def _problem(entry: Any, line: int | None) -> SchemaProblem:
    named = _ELEMENT.match(entry.message)
    element = None
    if named:
        element = (
            named.group(1) if named.group(2) is None else f"{named.group(1)}/@{named.group(2)}"
        )
    return SchemaProblem(line, element, entry.type_name)


class _LineLog(etree.PyErrorLog):  # type: ignore[misc]  # lxml-stubs: PyErrorLog is Any
    """Receives libxml2's errors as they happen, tagged with the line being fed."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.line = 0
        self.limit = limit
        self.found: list[SchemaProblem] = []

    def receive(self, log_entry: Any) -> None:
        entry: Any = log_entry
        if entry.domain == _SCHEMA_DOMAIN and len(self.found) < self.limit:
            self.found.append(_problem(entry, self.line))


def _locate(path: Path, schema: etree.XMLSchema, limit: int) -> list[SchemaProblem]:
    """The first ``limit`` schema errors of ``path`` with their lines.

    The catching log is lxml's thread-global one, so the pass runs in a thread of its own
    and leaves the caller's thread as it was.
    """
    found: list[SchemaProblem] = []

    def run() -> None:
        log = _LineLog(limit)
        etree.use_global_python_log(log)
        options: dict[str, Any] = {"resolve_entities": "internal"}  # lxml-stubs: bool only
        parser = etree.XMLPullParser(
            events=("end",),
            schema=schema,
            huge_tree=False,
            no_network=True,
            load_dtd=False,
            **options,
        )
        try:
            with path.open("rb") as source:
                log.line = 1
                while len(log.found) < limit:
                    piece = source.readline(_LINE_READ)
                    if not piece:
                        break
                    parser.feed(piece)
                    for _, element in parser.read_events():
                        if isinstance(element, etree._Element):
                            _release(element)
                    if piece.endswith(b"\n"):
                        log.line += 1
        except (OSError, etree.XMLSyntaxError):
            pass  # the first pass has reported what makes the file unreadable
        found.extend(log.found)

    worker = threading.Thread(target=run, name="xsd-locate", daemon=True)
    worker.start()
    worker.join()
    return found
