"""Fast constructors for the frozen dataclasses the model makes by the thousand per run.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (and then runs
``__post_init__``); setting the slots through their descriptors directly costs about half. ``maker`` builds,
once per class, a plain function taking the fields positionally in the order given. It is for hot paths
that already hold valid values: it runs no ``__post_init__`` checks and fills no defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["maker"]

T = TypeVar("T")


def maker(cls: type[T], names: tuple[str, ...]) -> Callable[..., T]:
    """``make(v1, v2, ...)``: a new ``cls`` with slot ``names[i]`` set to ``vi``; every slot of ``cls`` must be
    named (a slot left out would stay unset)."""
    slots = tuple(getattr(cls, "__slots__", ()))
    if sorted(slots) != sorted(names):
        raise TypeError(f"{cls.__name__}: slots {slots} are not the names {names}")
    env: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    env.update({f"_set_{n}": cls.__dict__[n].__set__ for n in names})
    args = ", ".join(names)
    body = "".join(f"    _set_{n}(o, {n})\n" for n in names)
    exec(f"def make({args}):\n    o = _new(_cls)\n{body}    return o\n", env)  # noqa: S102 - our own text
    return env["make"]  # type: ignore[no-any-return]
