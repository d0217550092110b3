"""lab/suite.py: the TOML suite loader (no boots), and that the shipped suite files load."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdumplab.errors import KdumplabError
from kdumplab.lab.suite import load_suite

SUITES = Path(__file__).resolve().parents[1] / "data" / "suites"


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


def test_kernels_list_expands(tmp_path: Path) -> None:
    cases = load_suite(_write(tmp_path, '[[case]]\nname = "x"\nkernels = ["5.10", "7.2"]\nmem = "8G"\n'
                                        'numa = ["4G", "4G"]\ncmdline = "crashkernel=1G,high"\n'))
    assert [c.name for c in cases] == ["5.10-x", "7.2-x"]
    assert cases[1].spec.numa == ("4G", "4G") and cases[1].spec.cmdline == "crashkernel=1G,high"


@pytest.mark.parametrize("text", [
    '[[case]]\nname = "x"\nkernel = "6.2"\nmem = "8G"\n',  # unknown kernel
    '[[case]]\nname = "x"\nkernel = "6.1"\nmem = "8G"\ncmdlin = ""\n',  # typo key
    '[[case]]\nname = "a b"\nkernel = "6.1"\nmem = "8G"\n',  # bad name
    '[[case]]\nname = "x"\nkernel = "6.1"\nmem = "8G"\n[[case]]\nname = "x"\nkernel = "6.1"\nmem = "8G"\n',
    '[[case]]\nname = "x"\nkernel = "6.1"\nmem = "8G"\nnuma = ["4G", "2G"]\n',  # does not add up
    "[[case]\n",  # not TOML
])
def test_bad_suites_are_one_line_errors(tmp_path: Path, text: str) -> None:
    with pytest.raises(KdumplabError):
        load_suite(_write(tmp_path, text))


@pytest.mark.parametrize("name", ["calibration.toml", "corpus.toml"])
def test_shipped_suites_load(name: str) -> None:
    cases = load_suite(SUITES / name)
    assert len(cases) >= 35
    assert {c.spec.kernel for c in cases} == {"5.10", "6.1", "6.12", "7.2"}


def test_duplicate_names_are_listed_as_words(tmp_path: Path) -> None:
    case = '[[case]]\nname = "x"\nkernel = "6.1"\nmem = "8G"\n'
    with pytest.raises(KdumplabError, match=r"duplicate case names 6\.1-x$|duplicate case names x$"):
        load_suite(_write(tmp_path, case + case))
