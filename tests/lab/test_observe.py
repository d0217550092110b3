"""lab/observe.py on recorded serial logs (tests/data/boots) and on broken ones.

The expected regions below come from the recorded real boots named in each case (tests/data/boots/<name>).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kdumplab.lab.observe import LabLost, Observation, Provenance, observe, sections

BOOTS = Path(__file__).resolve().parents[1] / "data" / "boots"
CASES = sorted(p for p in BOOTS.glob("*") if (p / "case.json").is_file())


def _load(name: str) -> tuple[Observation, str]:
    d = BOOTS / name
    if not d.is_dir():
        pytest.skip(f"recording {name} not present")
    return Observation.from_json((d / "case.json").read_text()), (d / "serial.log").read_text()


@pytest.mark.parametrize("case", CASES, ids=[p.name for p in CASES])
def test_reparse_equals_recording(case: Path) -> None:
    rec = Observation.from_json((case / "case.json").read_text())
    again = observe((case / "serial.log").read_text(), rec.provenance, rec.mem, rec.numa, rec.user_cmdline,
                    cpu=rec.cpu, dma_window=rec.dma_window)
    assert again == rec


@pytest.mark.parametrize("case", CASES[:8], ids=[p.name for p in CASES[:8]])
def test_json_round_trip(case: Path) -> None:
    rec = Observation.from_json((case / "case.json").read_text())
    assert Observation.from_json(rec.to_json()) == rec


def test_recordings_before_the_machine_shape_read_as_the_default_shape() -> None:
    """A case.json written before cpu/dma_window existed means cortex-a57 and no DMA window."""
    import json  # noqa: PLC0415

    rec = Observation.from_json((CASES[0] / "case.json").read_text())
    d = json.loads(rec.to_json())
    for key in ("cpu", "dma_window"):
        d.pop(key)
    d["provenance"].pop("dtb_size")
    d["provenance"].pop("dtb_sha256")
    old = Observation.from_json(json.dumps(d))
    assert (old.cpu, old.dma_window, old.provenance.dtb_size) == ("cortex-a57", None, None)
    d["surprise"] = 1
    with pytest.raises(Exception, match="keys differ"):
        Observation.from_json(json.dumps(d))


@pytest.mark.parametrize("kernel", ["5.10", "6.1", "6.12", "7.2"])
def test_plain_512M_at_8G(kernel: str) -> None:
    # Recorded: tests/data/boots/<kernel>-fit-low-512M (every generation puts it just below the 64 MiB CMA area).
    obs, _ = _load(f"{kernel}-fit-low-512M")
    assert [(r.start, r.end) for r in obs.crash_regions] == [(0xDC000000, 0xFC000000)]
    assert obs.crash_regions[0].parent == "40000000-23fffffff : System RAM"
    assert obs.crash_log == ("crashkernel reserved: 0x00000000dc000000 - 0x00000000fc000000 (512 MB)",)
    assert obs.kexec_crash_size == 512 << 20


def test_refusal_is_an_observation_not_lab_lost() -> None:
    # Recorded: tests/data/boots/5.10-nofit-low-3G: 5.10 cannot place 3 GiB below 4 GiB and says so.
    obs, _ = _load("5.10-nofit-low-3G")
    assert obs.crash_regions == ()
    assert obs.crash_log == ("cannot allocate crashkernel (size:0xc0000000)",)
    assert obs.kexec_crash_size == 0


def test_truncated_log_is_lab_lost() -> None:
    _, serial = _load("6.1-fit-low-512M")
    cut = serial[: serial.index("=== KDUMPLAB END")]
    with pytest.raises(LabLost):
        observe(cut, Provenance("p", "6.1.192-2", "q", (), 0, "", 0.0), "8G", (), "")


def test_garbage_is_lab_lost() -> None:
    with pytest.raises(LabLost):
        sections("\x00\xff garbage\nBad mode in Synchronous Abort handler\n")


def test_from_json_rejects_unknown_keys() -> None:
    from kdumplab.errors import KdumplabError

    obs, _ = _load("6.1-fit-low-512M")
    text = obs.to_json().replace('"schema": 1', '"schema": 1, "extra": 2')
    with pytest.raises(KdumplabError):
        Observation.from_json(text)
