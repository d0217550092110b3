"""The back-ends: every task answered once, bounded in flight, a dead worker reported and the run goes on."""

from __future__ import annotations

import os

import pytest

from kdumplab.errors import KdumplabError
from kdumplab.parallel import Backend, Progress


def square(n: int) -> int:
    return n * n


def die_on_3(n: int) -> int:
    if n == 3:
        os._exit(1)  # a worker killed (OOM, crash) mid-task
    return n * n


def test_pool_answers_every_task_once():
    with Backend(2) as b:
        got = dict(b.map(square, range(50), in_flight=3))
    assert got == {n: n * n for n in range(50)}


def test_inline_backend():
    with Backend(1) as b:
        assert list(b.map(square, [2, 3])) == [(2, 4), (3, 9)]


def test_a_dead_worker_is_one_failed_task():
    with Backend(2) as b:
        got = list(b.map(die_on_3, range(12), in_flight=2, failed=lambda t, e: -1))
    answers = dict(got)
    assert len(got) == 12 and set(answers) == set(range(12))
    assert answers[3] == -1
    assert all(answers[n] in (n * n, -1) for n in answers)  # others in flight with it may die too
    assert answers[11] == 121  # a new pool took over


def test_bad_jobs_and_quiet_progress():
    with pytest.raises(KdumplabError):
        Backend(0)

    class Pipe:
        def isatty(self) -> bool:
            return False

        def write(self, text: str) -> None:
            raise AssertionError("progress written to a pipe")

    p = Progress("x", 10, Pipe())
    p.add(5)
    p.close()
    assert p.line().startswith("x: 5/10")


def refuse_3(n: int) -> int:
    if n == 3:
        raise KdumplabError("--kexec-tools", "'none-such' is not modelled", "one of 2.0.20, 2.0.32")
    return n * n


def test_an_input_error_in_a_worker_reaches_the_parent_as_itself():
    """A KdumplabError raised in a pool worker comes back pickled: the parent gets the same error (place, message
    and hint), so the CLI prints its one line, not a BrokenProcessPool traceback from unpickling it."""
    with Backend(2) as b, pytest.raises(KdumplabError) as err:
        list(b.map(refuse_3, range(6)))
    assert err.value.one_line() == "--kexec-tools: 'none-such' is not modelled (one of 2.0.20, 2.0.32)"
