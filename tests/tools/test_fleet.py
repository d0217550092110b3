"""fleet: many hosts (captured roots and sosreports made from recorded real boots), one DuckDB writer,
resumable runs, one JSON line per host, broken archives as failed hosts, the fleet page in Chromium, and the
same results on a real Dask LocalCluster as in the process pool."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from kdumplab import fleet as fl
from kdumplab.cli import main
from kdumplab.parallel import Backend
from kdumplab.tools.fleet import open_db, run_fleet
from tests.tools.test_report import _chromium
from tests.tools.util import realboot_files, sosreport, write_root

CASES = ("6.1-16G-a12-crashkernel-4G-high", "5.10-8G-a01-crashkernel-3G", "5.10-2G-a06-crashkernel-1G")


@pytest.fixture()
def hosts(tmp_path: Path) -> Path:
    """Three roots, three sosreports of the same boots, one truncated archive, one non-archive file."""
    d = tmp_path / "hosts"
    d.mkdir()
    for i, case in enumerate(CASES):
        files = realboot_files(case)
        write_root(files, d / f"root-{i}")
        sosreport(files, d / f"sosreport-h{i}.tar.xz")
    whole = (d / "sosreport-h0.tar.xz").read_bytes()
    (d / "sosreport-cut.tar.xz").write_bytes(whole[: len(whole) // 2])
    (d / "notes.txt").write_text("not a sosreport\n")
    return d


def _cli(*args: str):
    return CliRunner().invoke(main, ["fleet", *args])


def test_json_lines_db_and_resume(hosts: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "f.duckdb")
    r = _cli(str(hosts), "--db", db, "--json", "--jobs", "1")
    lines = [json.loads(x) for x in r.output.splitlines()]
    assert len(lines) == 8 and {x["host"] for x in lines} >= {"root-0", "sosreport-h2", "sosreport-cut", "notes.txt"}
    assert len({tuple(sorted(x)) for x in lines}) == 1  # every line has the same fields, broken ones too
    broken = {x["host"]: x for x in lines if x["status"] == "error"}
    assert set(broken) == {"sosreport-cut", "notes.txt"}
    assert "truncated" in broken["sosreport-cut"]["error"] or "corrupt" in broken["sosreport-cut"]["error"]
    by = {x["host"]: x for x in lines}
    # a root and a sosreport of the same boot give the same analysis
    for i in range(3):
        a, b = by[f"root-{i}"], by[f"sosreport-h{i}"]
        assert [f["code"] for f in a["findings"]] == [f["code"] for f in b["findings"]]
        assert a["ram"] == b["ram"] and a["ram"] > 0
    assert r.exit_code == max(x["exit"] if x["exit"] != 2 else 1 for x in lines)
    con = open_db(db)
    assert con.execute("SELECT count(*) FROM hosts").fetchone()[0] == 8
    n_findings = sum(len(x.get("findings") or []) for x in lines)
    assert con.execute("SELECT count(*) FROM findings").fetchone()[0] == n_findings
    con.close()
    # a rerun checks nothing again; a changed input is checked again; a touched but equal one is not
    r2 = _cli(str(hosts), "--db", db, "--json", "--jobs", "1")
    again = [json.loads(x) for x in r2.output.splitlines()]
    assert len(again) == 8 and all(x.get("cached") for x in again)
    (hosts / "root-2" / "proc" / "cmdline").write_text("console=ttyAMA0 crashkernel=64M\n")
    os.utime(hosts / "root-1" / "proc" / "iomem", None)
    r3 = _cli(str(hosts), "--db", db, "--json", "--jobs", "1")
    third = {x["host"]: x for x in (json.loads(y) for y in r3.output.splitlines())}
    assert len({tuple(sorted(x)) for x in third.values()}) == 1
    assert not third["root-2"].get("cached") and third["root-1"].get("cached")
    assert sum(not x.get("cached") for x in third.values()) == 1


def test_pool_and_dask_give_the_same_records(hosts: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")

    def records(backend: Backend, db: str) -> dict[str, dict]:
        out: dict[str, dict] = {}
        run_fleet((str(hosts),), db, backend, lambda r: out.__setitem__(r["host"], r))
        for r in out.values():
            r.pop("seconds")
        return out

    pool = records(Backend(2), str(tmp_path / "pool.duckdb"))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        on_dask = records(Backend(2, c.scheduler_address), str(tmp_path / "dask.duckdb"))
    assert on_dask == pool and len(pool) == 8


def test_summary_parquet_and_page(hosts: Path, tmp_path: Path) -> None:
    db, page, pq = tmp_path / "f.duckdb", tmp_path / "fleet.html", tmp_path / "pq"
    r = _cli(str(hosts / "root-*"), str(hosts / "sosreport-h1.tar.xz"), "--db", str(db), "--jobs", "2",
             "--html", str(page), "--parquet", str(pq))
    assert r.exit_code in (1, 3), r.output
    assert r.output.startswith("fleet: 4 hosts (4 checked") and "fix:" in r.output
    pyarrow_parquet = pytest.importorskip("pyarrow.parquet")
    assert pyarrow_parquet.read_table(pq / "hosts.parquet").num_rows == 4  # an independent Parquet reader
    html = page.read_text()
    assert "Causes by kernel family" in html and "Causes by RAM size" in html and html.count("<tr class=") == 4
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    flags = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'p'}"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], check=True, capture_output=True, text=True,
                         timeout=120, stdin=subprocess.DEVNULL).stdout
    assert dom.count('class="cell"') >= 2 and "root-0" in dom and "sosreport-h1" in dom


def test_discovery_rules(hosts: Path, tmp_path: Path) -> None:
    found = list(fl.discover([str(hosts / "root-0"), str(hosts), str(hosts / "*.tar.xz")]))
    assert found[0] == fl.Host(str(hosts / "root-0"), fl.ROOT)  # a root given directly is one host
    assert len(found) == 8  # each path once
    assert fl.host_name("/x/sosreport-web01-2026.tar.xz") == "sosreport-web01-2026"
    r = _cli(str(tmp_path / "nothing-*"), "--db", str(tmp_path / "x.duckdb"))
    assert r.exit_code == 2 and r.output.count("\n") == 1


def test_fleet_checks_through_check_capture_as_check_does(hosts: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One entry point: fleet's record of a host is check's own answer for it (findings, exit, MemTotal)."""
    from kdumplab.render.check import analysis_dict
    from kdumplab.tools import check as check_tool

    seen: list[tuple[str | None, str | None]] = []
    real = check_tool.check_capture

    def spy(root=None, sosreport=None, **kw):
        seen.append((root, sosreport))
        return real(root=root, sosreport=sosreport, **kw)

    monkeypatch.setattr(check_tool, "check_capture", spy)
    for name, kind in (("root-0", fl.ROOT), ("sosreport-h1.tar.xz", fl.SOSREPORT)):
        path = str(hosts / name)
        rec = fl.check_host((path, kind, None))
        analysis = check_tool.check(**({"root": path} if kind == fl.ROOT else {"sosreport": path}))
        assert rec["findings"] == analysis_dict(analysis)["findings"] and rec["exit"] == check_tool.exit_code(analysis)
        assert rec["ram"] == real(root=path if kind == fl.ROOT else None,
                                  sosreport=path if kind == fl.SOSREPORT else None).memtotal
    assert seen == [(str(hosts / "root-0"), None), (None, str(hosts / "sosreport-h1.tar.xz"))]
