"""Checking a large municipality's year (a generated 50,000-person IPLOS 3.7 file, about
72 MB, packed) and its identity file keeps the simulator's peak RSS within 150 MiB of what it
holds before the messages arrive: the document streams through a spool, never parsed whole
(a whole-tree validation of the same file takes about 700 MB)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kpr_gateway.annual.synthetic import write_extract
from tests.unit.simulator.support import REPO

MIB = 1024 * 1024
PERSONS = 50_000
MAX_GROWTH_BYTES = 150 * MIB

# Seals both messages, then notes the resident set of the running simulator and its peak
# while it checks and answers them (official schemas, as deployed).
_CHILD = """
import asyncio, json, sys, time
from pathlib import Path
from kpr_gateway.messages.packing import pack_file
from kpr_gateway.messages.schemas import load_schema_set
from kpr_gateway.nhn import InMemoryNhnBroker
from kpr_gateway.security.devpki import DevPki
from tests.unit.simulator.annual_messages import annual_message
from tests.unit.simulator.support import PARTIES, Party, running

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

async def main():
    pki = DevPki.create(PARTIES)
    schemas = load_schema_set(Path(sys.argv[3]))
    iplos = annual_message(pki, pack_file(sys.argv[1]), "KPR_IPL")
    ident = annual_message(pki, pack_file(sys.argv[2]), "KPR_IDE")
    broker = InMemoryNhnBroker()
    party = Party(pki, broker)
    async with running(pki, broker, schemas=schemas):
        # Building the messages left a high-water mark: start the peak from here.
        Path("/proc/self/clear_refs").write_text("5")
        before = status("VmRSS")
        started = time.perf_counter()
        answers = [await party.answer_to(iplos, 300), await party.answer_to(ident, 300)]
        seconds = time.perf_counter() - started
        peak = status("VmHWM")
    print(json.dumps({
        "before": before, "peak": peak, "seconds": seconds,
        "statuses": [int(a.status.code) for a in answers],
        "errors": [[e.code for e in a.errors] for a in answers],
        "iplos_base64_bytes": len(iplos.body),
    }))

asyncio.run(main())
"""


def test_checking_a_50000_person_year_stays_within_150_mib(
    tmp_path: Path, standards_dir: Path
) -> None:
    files = write_extract(
        tmp_path / "iplos.xml",
        tmp_path / "ident.xml",
        municipality_number="4601",
        year=2025,
        persons=PERSONS,
    )
    size = files.iplos.stat().st_size
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(files.iplos), str(files.ident), str(standards_dir)],
        capture_output=True,
        check=False,
        timeout=600,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    measured = json.loads(result.stdout)
    assert measured["statuses"] == [1, 1], measured["errors"]
    growth = measured["peak"] - measured["before"]
    assert growth < MAX_GROWTH_BYTES, f"peak RSS grew by {growth / MIB:.1f} MiB"
    print(
        f"checked {size / MIB:.1f} MiB of IPLOS 3.7 ({PERSONS} persons, sealed"
        f" {measured['iplos_base64_bytes'] / MIB:.1f} MiB) and its identity file in"
        f" {measured['seconds']:.1f} s; RSS {measured['before'] / MIB:.1f} MiB before,"
        f" peak {measured['peak'] / MIB:.1f} MiB ({growth / MIB:+.1f} MiB)"
    )
