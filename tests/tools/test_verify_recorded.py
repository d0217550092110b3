"""verify --recorded: every recording kind at any depth, errors naming the recording, a table of 80 columns."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from kdumplab.cli import main

DATA = Path(__file__).parents[1] / "data"


def _copy(kind: str, dest: Path) -> str:
    src = sorted(p for p in (DATA / kind).iterdir() if p.is_dir())[0]
    shutil.copytree(src, dest / src.name)
    return src.name


def test_recorded_descends_and_reads_every_kind(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b"
    names = [_copy("boots", deep), _copy("realboots", tmp_path / "early"), _copy("cycles", tmp_path / "c")]
    r = CliRunner().invoke(main, ["verify", "--recorded", str(tmp_path)], terminal_width=80)
    assert r.exit_code == 0, r.output
    assert "3 of 3 cases agree" in r.output and all(n[:20] in r.output for n in names)
    assert all(len(line) <= 80 for line in r.output.splitlines())


def test_recorded_nothing_is_an_error_naming_the_directory(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["verify", "--recorded", str(tmp_path)])
    assert r.exit_code == 2 and str(tmp_path) in r.output and "no recordings" in r.output


def test_recorded_bad_file_names_the_recording(tmp_path: Path) -> None:
    name = _copy("boots", tmp_path)
    (tmp_path / name / "case.json").write_text('{"generation": 5}')
    r = CliRunner().invoke(main, ["verify", "--recorded", str(tmp_path)])
    assert r.exit_code == 2 and f"{tmp_path / name}: cannot read this recording" in r.output
    assert r.output.count("\n") == 1
