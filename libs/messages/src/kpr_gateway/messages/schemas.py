"""Validate documents against the official XSDs (MsgHead, AppRec 1.0/1.1) and our payload XSDs.

MsgHead's ``Content`` is ``<any processContents="strict">``, so a MsgHead only validates fully
when the schema of its inline document is known too. The MsgHead schema is therefore compiled
from a small wrapper that imports MsgHead and every payload namespace by absolute file URI.
Compiling is slow, so compiled schemas are kept per ``SchemaSet`` and sets are cached per
directory by ``load_schema_set``.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from kpr_gateway.messages.apprec import APPREC_NAMESPACES
from kpr_gateway.messages.errors import (
    SchemaError,
    SchemaValidationError,
    StandardsNotFoundError,
    UnknownDocumentTypeError,
    ValidationIssue,
)
from kpr_gateway.messages.msghead import MSGHEAD_NS
from kpr_gateway.messages.xmlsafe import DEFAULT_MAX_BYTES, parse_xml

STANDARDS_DIR_ENV = "KPRGW_STANDARDS_DIR"
APPREC_V10_NS = APPREC_NAMESPACES["1.0"]
APPREC_V11_NS = APPREC_NAMESPACES["1.1"]
MSGHEAD_XSD = "MsgHead-v1_2.xsd"
APPREC_V10_XSD = "apprec-v1.0.xsd"
APPREC_V11_XSD = "apprec-v1.1.xsd"
_XS = "http://www.w3.org/2001/XMLSchema"

# libxml2 quotes offending values in these phrases; the value may be personal data.
_VALUE_PATTERNS = (
    re.compile(r"(?<=The value ')(.*?)(?=' )", re.DOTALL),
    re.compile(r"(?<=: ')(.*?)(?=' is not a valid value)", re.DOTALL),
    re.compile(r"(?<=: ')(.*?)(?=' is not accepted)", re.DOTALL),
    re.compile(r"(?<=: ')(.*?)(?=' is not an element of)", re.DOTALL),
    re.compile(r"(?<=The QName value ')(.*?)(?=' )", re.DOTALL),
    re.compile(r"(?<=key-sequence \[)(.*?)(?=\] )", re.DOTALL),
)
_REDACTED = "[value withheld]"


@dataclass(frozen=True, slots=True)
class PayloadSchema:
    """The XSD of a document carried inline in MsgHead (e.g. the IPLOS i KPR Melding)."""

    namespace: str
    xsd_path: Path


def kpr_payload_schemas() -> tuple[PayloadSchema, ...]:
    """The payload schemas the gateway sends, the official XSDs as their packages ship them:
    IPLOS i KPR, XPR(ipl) 56.0.0 (daily), and IPLOS 3.7 and XPR(ide) 53.1.3 (annual).

    The annual ones are here because packing is a setting per message type: an annual
    document may travel inline, and MsgHead's strict ``Content`` then needs its schema. A
    packed one is a ``Base64Container`` to MsgHead and is checked on its own, streaming.
    """
    # Imported on use: iplos_kpr itself imports this package, so a module-level import
    # here would make package initialisation circular.
    from kpr_gateway.messages import iplos_annual, iplos_kpr, xpr_ide  # noqa: PLC0415

    return (
        PayloadSchema(iplos_kpr.NAMESPACE, Path(iplos_kpr.XSD_PATH)),
        PayloadSchema(iplos_annual.NAMESPACE, Path(iplos_annual.XSD_PATH)),
        PayloadSchema(xpr_ide.NAMESPACE, Path(xpr_ide.XSD_PATH)),
    )


def standards_dir_from_env() -> Path:
    """The directory named by ``KPRGW_STANDARDS_DIR``; ``StandardsNotFoundError`` if unset."""
    configured = os.environ.get(STANDARDS_DIR_ENV, "").strip()
    if not configured:
        raise StandardsNotFoundError(
            f"no standards directory given: set {STANDARDS_DIR_ENV} to the directory holding "
            f"the official XSDs (or its parent with an xsd/ folder)"
        )
    return Path(configured)


def _xsd_dir(standards_dir: Path) -> Path:
    # Accept both the standards root (with xsd/) and the xsd folder itself.
    for candidate in (standards_dir / "xsd", standards_dir):
        if (candidate / MSGHEAD_XSD).is_file():
            return candidate.resolve()
    raise StandardsNotFoundError(f"{MSGHEAD_XSD} not found in {standards_dir} or its xsd/ folder")


def _xsd_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _compile(source: etree._ElementTree | Path, label: str) -> etree.XMLSchema:
    try:
        tree = (
            source
            if isinstance(source, etree._ElementTree)
            else etree.parse(str(source), _xsd_parser())
        )
        return etree.XMLSchema(tree)
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as exc:
        raise SchemaError(f"could not compile the {label} schema: {exc}") from exc


class _CompiledSchema:
    """A compiled schema with a lock: lxml validators keep their error log on the object."""

    def __init__(self, schema: etree.XMLSchema) -> None:
        self._schema = schema
        self._lock = threading.Lock()

    def issues(self, tree: etree._ElementTree) -> list[ValidationIssue]:
        with self._lock:
            if self._schema.validate(tree):
                return []
            log: Any = self._schema.error_log  # lxml-stubs do not declare it iterable
            entries = list(log)
        return [ValidationIssue(entry.line, redact_values(entry.message)) for entry in entries]


class SchemaSet:
    """The schemas of one standards directory plus our payload XSDs, compiled on first use."""

    def __init__(
        self, standards_dir: Path, *, payloads: Sequence[PayloadSchema] | None = None
    ) -> None:
        self.xsd_dir = _xsd_dir(standards_dir)
        self.payloads = tuple(payloads) if payloads is not None else kpr_payload_schemas()
        for required in (APPREC_V10_XSD, APPREC_V11_XSD):
            if not (self.xsd_dir / required).is_file():
                raise StandardsNotFoundError(f"{required} not found in {self.xsd_dir}")
        for payload in self.payloads:
            if not payload.xsd_path.is_file():
                raise StandardsNotFoundError(f"payload schema {payload.xsd_path} not found")
        self._lock = threading.Lock()
        self._compiled: dict[str, _CompiledSchema] = {}

    @classmethod
    def from_env(cls) -> SchemaSet:
        return cls(standards_dir_from_env())

    @property
    def namespaces(self) -> frozenset[str]:
        """Root namespaces this set can validate."""
        payload_namespaces = {payload.namespace for payload in self.payloads}
        return frozenset({MSGHEAD_NS, APPREC_V10_NS, APPREC_V11_NS, *payload_namespaces})

    def _key(self, namespace: str) -> str:
        if namespace in (APPREC_V10_NS, APPREC_V11_NS):
            return namespace
        # MsgHead and payload roots share the composed schema.
        return MSGHEAD_NS

    def _schema(self, namespace: str) -> _CompiledSchema:
        if namespace not in self.namespaces:
            shown = namespace[:200] if namespace else "(no namespace)"
            raise UnknownDocumentTypeError(f"no schema is known for root namespace {shown}")
        key = self._key(namespace)
        with self._lock:
            compiled = self._compiled.get(key)
            if compiled is None:
                compiled = _CompiledSchema(self._build(key))
                self._compiled[key] = compiled
            return compiled

    def _build(self, key: str) -> etree.XMLSchema:
        if key == APPREC_V10_NS:
            return _compile(self.xsd_dir / APPREC_V10_XSD, "AppRec v1.0")
        if key == APPREC_V11_NS:
            return _compile(self.xsd_dir / APPREC_V11_XSD, "AppRec v1.1")
        return _compile(etree.ElementTree(self._composed_wrapper()), "MsgHead with payloads")

    def _composed_wrapper(self) -> etree._Element:
        wrapper = etree.Element(f"{{{_XS}}}schema", nsmap={"xs": _XS})
        imports = [(MSGHEAD_NS, self.xsd_dir / MSGHEAD_XSD)]
        imports += [(payload.namespace, payload.xsd_path) for payload in self.payloads]
        for namespace, path in imports:
            etree.SubElement(
                wrapper,
                f"{{{_XS}}}import",
                namespace=namespace,
                schemaLocation=path.resolve().as_uri(),
            )
        return wrapper

    def issues(self, root: etree._Element) -> list[ValidationIssue]:
        """Schema issues of an already parsed document (empty when valid)."""
        namespace = etree.QName(root).namespace or ""
        return self._schema(namespace).issues(root.getroottree())


@functools.lru_cache(maxsize=8)
def _cached_schema_set(xsd_dir: Path) -> SchemaSet:
    return SchemaSet(xsd_dir)


def load_schema_set(standards_dir: Path | None = None) -> SchemaSet:
    """A shared ``SchemaSet`` for ``standards_dir`` (default: ``KPRGW_STANDARDS_DIR``)."""
    directory = standards_dir if standards_dir is not None else standards_dir_from_env()
    return _cached_schema_set(_xsd_dir(directory))


def validate_document(
    data: bytes, schemas: SchemaSet, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[ValidationIssue]:
    """Parse ``data`` safely and validate it by its root namespace; empty list means valid.

    Raises ``UnsafeXmlError``/``MalformedXmlError`` for input that cannot be parsed and
    ``UnknownDocumentTypeError`` for a root namespace without a schema.
    """
    return schemas.issues(parse_xml(data, max_bytes=max_bytes))


def require_valid(data: bytes, schemas: SchemaSet, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Like ``validate_document`` but raises ``SchemaValidationError`` when there are issues."""
    issues = validate_document(data, schemas, max_bytes=max_bytes)
    if issues:
        raise SchemaValidationError(issues)


def redact_values(message: str) -> str:
    """Withhold the document values libxml2 quotes in validation messages."""
    for pattern in _VALUE_PATTERNS:
        message = pattern.sub(_REDACTED, message)
    return message
