"""The streaming packer holds the zip, never the document: packing a ~70 MB file (the size of
a 50,000-person IPLOS year) raises a fresh process's peak RSS by far less than the file."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path

MIB = 1024 * 1024
TARGET_BYTES = 70 * MIB
# The zip (a few MB), its base64 text (4/3 of it) and a chunk: well under the file's size.
MAX_GROWTH_BYTES = 40 * MIB

# Packs the file, notes the peak RSS, then checks the round trip (streaming, after the peak).
_CHILD = """
import hashlib, json, sys
from pathlib import Path
from kpr_gateway.messages.packing import pack_file

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

# Imports leave a high-water mark above what stays resident: start the peak from here.
Path("/proc/self/clear_refs").write_text("5")
before = status("VmRSS")
packed = pack_file(sys.argv[1])
peak = status("VmHWM")
digest = hashlib.sha256()
with packed.open() as stream:
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
print(json.dumps({
    "before": before, "peak": peak, "document_bytes": packed.document_bytes,
    "base64_bytes": len(packed.base64), "sha256": digest.hexdigest(),
}))
"""


def write_year(path: Path, target_bytes: int) -> str:
    """A synthetic IPLOS-like year (made-up ids and codes, no real persons) of about
    ``target_bytes``, written in pieces; returns its SHA-256.

    The persons' details are drawn from small code lists as in a real extract (which zips
    about 18 to 1); 2,000 distinct persons repeat, far apart for deflate's 32 KB window.
    """
    rng = random.Random(2025)
    organisations = [f"{rng.randint(10**8, 10**9 - 1)}" for _ in range(25)]
    persons = [_person(rng, organisations) for _ in range(2000)]
    digest = hashlib.sha256()
    with path.open("wb") as file:

        def put(data: bytes) -> None:
            file.write(data)
            digest.update(data)

        put(b'<?xml version="1.0" encoding="UTF-8"?>\n<Iplos xmlns="urn:example:year">\n')
        written, number = 0, 0
        while written < target_bytes:
            chunk = []
            for body in persons:
                number += 1
                chunk.append(f'  <Person id="P{number:07d}"{body}')
            data = "".join(chunk).encode()
            put(data)
            written += len(data)
        put(b"</Iplos>\n")
    return digest.hexdigest()


def _person(rng: random.Random, organisations: list[str]) -> str:
    services = "".join(
        f'    <Tjeneste type="{rng.choice((11, 14, 15, 18, 21, 22, 29, 32))}" '
        f'fra="2025-{rng.randint(1, 12):02d}-01" til="2025-12-31" '
        f'timer="{rng.choice((0, 2.5, 5, 7.5, 10, 15))}" org="{rng.choice(organisations)}"/>\n'
        for _ in range(rng.randint(2, 6))
    )
    functions = " ".join(f'f{n}="{rng.choice((1, 1, 1, 2, 3, 4, 5, 9))}"' for n in range(18))
    return (
        f' alder="{rng.randint(0, 105)}" kjonn="{rng.choice((1, 2))}" kommune="0301">\n'
        f"    <Funksjon {functions}/>\n{services}  </Person>\n"
    )


def test_packing_a_70_mb_year_stays_small_in_memory(tmp_path: Path) -> None:
    year = tmp_path / "year.xml"
    expected_digest = write_year(year, TARGET_BYTES)
    size = year.stat().st_size
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(year)],
        capture_output=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr.decode()
    measured = json.loads(result.stdout)
    assert measured["document_bytes"] == size
    assert measured["sha256"] == expected_digest
    growth = measured["peak"] - measured["before"]
    assert growth < MAX_GROWTH_BYTES, f"peak RSS grew by {growth / MIB:.1f} MiB"
    assert measured["base64_bytes"] < size / 5
    print(
        f"packed {size / MIB:.1f} MiB into {measured['base64_bytes'] / MIB:.1f} MiB of base64;"
        f" peak RSS {measured['peak'] / MIB:.1f} MiB ({growth / MIB:+.1f} MiB while packing)"
    )
