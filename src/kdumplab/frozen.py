"""Fast constructors for the frozen dataclasses the model makes by the thousand per run.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (and then runs
``__post_init__``); setting the attributes through their descriptors directly costs about half. ``maker``
builds, once per class, a plain function taking the fields positionally in the order given. It is for hot paths
that already hold valid values: it runs no ``__post_init__`` checks (a caller whose values come from input runs
``__post_init__`` itself), and fills only the defaults its native road declares (below).

The same road serves both builds of a class. Pure Python: ``dataclass(slots=True)`` gives slot descriptors
(``__slots__``) and ``object.__new__`` makes the bare instance. Compiled by mypyc (the opt-in build,
docs/fleet.md): the class has no ``__slots__``; its native attributes are listed in ``__mypyc_attrs__``, each
with a getset descriptor that checks the value's declared type, and ``cls.__new__`` (which ``object.__new__``
refuses to stand in for) makes an instance whose attributes are unset until the descriptors set them. Calling
the class instead would be correct too but costs twice as much (its ``__init__`` and ``__post_init__`` run).
``tests/test_frozen.py`` checks that a made instance equals the one the class's own constructor makes.

The compiled build has a faster road still, and this module is the one place that chooses it. A function
written out in a compiled module beside the maker line (``o = Cls.__new__(Cls)``, then ``o.a = a`` for each
attribute, then ``return o``) is compiled by mypyc to native attribute stores: about 70 ns an object against
~500 for the ``exec`` function (which the interpreter runs in both builds) or the class's own ``__init__``.
Interpreted, the same function would hit the frozen ``__setattr__`` and raise ``FrozenInstanceError``, so
``maker(cls, names, native)`` returns ``native`` only when mypyc compiled both it and ``cls``, and the ``exec``
function otherwise; it takes the native road's parameter defaults (each must be the class's own default) so
both are called alike, by keyword too. Every maker is listed in ``MAKERS``; tests/test_frozen.py checks in both
builds that each has a native road with the maker's names (``maker`` itself refuses others), taken exactly in
the compiled build, and that each makes what the class's own constructor makes.

``picklable`` mends the one thing mypyc's frozen dataclasses lack: pickle (a process pool's results) restores
a native instance through ``setattr``, which a frozen dataclass refuses; it registers, for compiled classes
only, a reducer that restores the attributes as ``__post_init__`` sets them. Pure classes pickle as before.
"""

from __future__ import annotations

import copyreg
import dataclasses
import inspect
from collections.abc import Callable
from types import FunctionType
from typing import Any, NamedTuple, TypeVar

__all__ = ["MAKERS", "Maker", "attributes", "compiled", "maker", "picklable"]

T = TypeVar("T")


def attributes(cls: type) -> tuple[str, ...]:
    """The instance attributes of a slotted class: its ``__slots__``, or a mypyc native class's attributes."""
    if "__slots__" in cls.__dict__:
        return tuple(cls.__slots__)  # type: ignore[attr-defined]
    return tuple(cls.__dict__.get("__mypyc_attrs__", ()))


def compiled(cls: type) -> bool:
    """mypyc compiled ``cls`` (a native class: attributes in ``__mypyc_attrs__``, no ``__slots__``)."""
    return "__slots__" not in cls.__dict__ and "__mypyc_attrs__" in cls.__dict__


class Maker(NamedTuple):
    """One ``maker`` call: the class, the attribute names in parameter order, the native road given (or None)
    and the function returned (``native`` itself in the compiled build)."""

    cls: type
    names: tuple[str, ...]
    native: Callable[..., Any] | None
    make: Callable[..., Any]


#: every maker made so far (tests/test_frozen.py checks them all)
MAKERS: list[Maker] = []


def maker(cls: type[T], names: tuple[str, ...], native: Callable[..., T] | None = None) -> Callable[..., T]:
    """``make(v1, v2, ...)``: a new ``cls`` with attribute ``names[i]`` set to ``vi``; every attribute of
    ``cls`` must be named (one left out would stay unset). ``native``: the same constructor written out for the
    compiled build (see the module's docstring), taking the same parameters; returned when mypyc compiled it
    and ``cls``. Its parameters may have defaults, each the class's own default for that field (checked here
    where the function is interpreted); ``make`` then has the same defaults and is called by keyword too."""
    slots = attributes(cls)
    if not slots or sorted(slots) != sorted(names):
        raise TypeError(f"{cls.__name__}: attributes {slots} are not the names {names}")
    defaults: dict[str, Any] = {}
    if native is not None:
        native_compiled = compiled(cls) and not isinstance(native, FunctionType)  # a compiled function: a builtin
        try:
            params = inspect.signature(native).parameters
        except ValueError:  # compiled, with a default mypyc cannot write as text (the pure run checks the names)
            if not native_compiled:
                raise
        else:
            if tuple(params) != names:
                raise TypeError(f"{cls.__name__}: native road {native.__name__}{tuple(params)} does not take {names}")
        if native_compiled:
            MAKERS.append(Maker(cls, names, native, native))
            return native
        defaults = {n: p.default for n, p in params.items() if p.default is not p.empty}
        own = {f.name: f.default for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        for n, value in defaults.items():
            if own[n] is dataclasses.MISSING or not (own[n] is value or own[n] == value):
                raise TypeError(f"{cls.__name__}: native road {native.__name__} gives {n} the default {value!r}, "
                                f"the class {own[n]!r}")
    env: dict[str, Any] = {"_new": cls.__new__, "_cls": cls}
    env.update({f"_set_{n}": cls.__dict__[n].__set__ for n in names})
    env.update({f"_default_{n}": value for n, value in defaults.items()})
    args = ", ".join(f"{n}=_default_{n}" if n in defaults else n for n in names)
    body = "".join(f"    _set_{n}(o, {n})\n" for n in names)
    exec(f"def make({args}):\n    o = _new(_cls)\n{body}    return o\n", env)  # noqa: S102 - our own text
    MAKERS.append(Maker(cls, names, native, env["make"]))
    return env["make"]  # type: ignore[no-any-return]


def _restore(cls: type[T], values: tuple[Any, ...]) -> T:
    """A compiled frozen ``cls`` from its attribute values (in ``attributes(cls)`` order), for pickle."""
    o = cls.__new__(cls)
    for name, value in zip(attributes(cls), values, strict=True):
        object.__setattr__(o, name, value)  # the attribute's descriptor, past the frozen __setattr__
    return o


def picklable(*classes: type) -> None:
    """Let pickle carry instances of these frozen dataclasses when mypyc compiled them (a no-op otherwise)."""
    for cls in classes:
        if "__slots__" not in cls.__dict__ and attributes(cls):
            names = attributes(cls)
            copyreg.pickle(cls, lambda o, cls=cls, names=names: (_restore, (cls, tuple(getattr(o, n) for n in names))))
