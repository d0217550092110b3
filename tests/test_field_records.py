"""Shape of the public field corpus (tests/data/field/): every record is well formed.

Only the schema agreed in COORD.md is checked here (TOML parses, required keys, listed evidence files
exist as non-empty UTF-8, region bounds ordered, finding codes from the agreed list). Whether kdumplab
reads the records right is tested elsewhere.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

FIELD = Path(__file__).parent / "data" / "field"
RECORDS = sorted(p.parent for p in FIELD.glob("*/record.toml"))

KINDS = {"mailing-list", "bugzilla", "github-issue", "forum", "vendor-doc", "q-and-a", "blog"}
EVIDENCE_FILES = {"dmesg.txt", "iomem.txt", "cmdline.txt", "other.txt"}
ARCHES = {"arm64", "x86_64", "unknown"}
VIEWS = {"first kernel", "crash kernel"}
OUTCOMES = {"reserved", "failed", "not requested", "unknown"}
CODES = {
    "RESERVATION_FAILED", "OUTSIDE_DMA_ZONE", "CMA_COMPETES", "CMA_FAILED", "LOW_AUTO", "FIXED_BASE",
    "CAPTURE_KERNEL", "EVIDENCE_CONFLICT", "PARTIAL_INPUT", "NO_REGION",
}
SOURCE_KEYS = {"kind", "where", "url", "title", "date"}
EVIDENCE_KEYS = {"files", "arch", "release", "machine", "note"}
EXPECTED_KEYS = {"view", "outcome", "codes", "codes_absent"}
REGION_KEYS = {"name", "start", "end", "boot"}


def test_corpus_is_big_enough() -> None:
    assert len(RECORDS) >= 40


@pytest.mark.parametrize("rec", RECORDS, ids=[p.name for p in RECORDS])
def test_record_is_well_formed(rec: Path) -> None:
    data = tomllib.loads((rec / "record.toml").read_text(encoding="utf-8"))
    assert set(data) == {"source", "evidence", "expected"}
    source, evidence, expected = data["source"], data["evidence"], data["expected"]

    assert set(source) == SOURCE_KEYS
    assert source["kind"] in KINDS
    assert all(isinstance(source[k], str) for k in SOURCE_KEYS)
    assert all(source[k] for k in SOURCE_KEYS - {"date"}), "only the date may be unknown (empty)"
    assert source["url"].startswith("https://")

    assert set(evidence) == EVIDENCE_KEYS
    assert evidence["arch"] in ARCHES
    assert isinstance(evidence["release"], str) and isinstance(evidence["machine"], str)
    assert evidence["note"]
    files = evidence["files"]
    assert files and len(set(files)) == len(files) and set(files) <= EVIDENCE_FILES
    on_disk = {p.name for p in rec.iterdir()} - {"record.toml"}
    assert on_disk == set(files), "evidence files on disk and in record.toml differ"
    for name in files:
        text = (rec / name).read_bytes().decode("utf-8")
        assert text.strip(), f"{name} is empty"

    assert set(expected) - {"regions", "family"} == EXPECTED_KEYS
    if "family" in expected:  # added by the evidence helper where the evidence settles it (kdumplab.family)
        from kdumplab.family import FAMILIES

        assert expected["family"] in {f.name for f in FAMILIES}
    assert expected["view"] in VIEWS
    assert expected["outcome"] in OUTCOMES
    codes, absent = set(expected["codes"]), set(expected["codes_absent"])
    assert codes <= CODES and absent <= CODES
    assert not codes & absent, "a code is both expected and forbidden"
    for region in expected.get("regions", []):
        assert set(region) == REGION_KEYS
        assert region["name"].startswith("Crash kernel")
        assert region["boot"] in {"this", "other"}
        assert 0 <= region["start"] <= region["end"]
