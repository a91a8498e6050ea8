"""``__repr__``, ``__eq__`` and ``__hash__`` for the frozen attrs classes, read from their fields.

attrs writes these three methods as source code and compiles them, for every class: about
1.5 M instructions a class, some 40 M of a one-shot script's start-up (bench/oneshot.py) for
the classes a plain send loads. The classes are declared
``@attrs.frozen(..., repr=False, eq=False)`` under ``@field_methods``, which gives them the
same methods built from ``__attrs_attrs__`` without compiling anything: the same ``repr``
(each field's ``repr=`` flag or function, the class's qualified name, ``...`` for an object
already being shown), equality between instances of the very same class over the fields
whose ``eq`` is set (``NotImplemented`` for any other type), and a hash over the same fields,
consistent with that equality. ``attrs.evolve``, ``attrs.fields`` and ``attrs.asdict`` see an
ordinary attrs class.
"""

from __future__ import annotations

import threading
from operator import attrgetter
from typing import Any, Callable, TypeVar

import attrs
from attrs import NOTHING

__all__ = ["field_methods"]

T = TypeVar("T", bound=type)

# The objects each thread is showing, as attrs keeps them, so that a cycle prints "...".
_showing = threading.local()


def _fields_reader(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A function giving an instance's values of ``names`` as a tuple (attrgetter is C)."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda instance: (one(instance),)
    return lambda instance: ()


def _compared(used: tuple[attrs.Attribute[Any], ...]) -> Callable[[Any], tuple[Any, ...]]:
    """What equality (or the hash) compares: the values of ``used``, through their ``eq``
    key function where one is given."""
    read = _fields_reader(tuple(f.name for f in used))
    keys = tuple(getattr(f, "eq_key", None) for f in used)  # not in attrs's type stubs
    if not any(keys):
        return read
    return lambda instance: tuple(
        key(value) if key else value for key, value in zip(keys, read(instance)))


def field_methods(cls: T) -> T:
    """Give a frozen attrs class declared with ``repr=False, eq=False`` the ``__repr__``,
    ``__eq__`` and ``__hash__`` attrs would have generated (a method the class defines
    itself is kept)."""
    fields: tuple[attrs.Attribute[Any], ...] = cls.__attrs_attrs__  # type: ignore[attr-defined]
    shown = tuple((f.name, repr if f.repr is True else f.repr, f.init)
                  for f in fields if f.repr is not False)
    # The fields attrs compares, and those it hashes (the same unless a field says hash=).
    equal = tuple(f for f in fields if f.eq)
    hashing = tuple(f for f in fields if f.hash is True or (f.hash is None and f.eq is True))
    compared = _compared(equal)
    hashed = compared if hashing == equal else _compared(hashing)
    salt = hash(f"{cls.__module__}.{cls.__qualname__}.__hash__")

    def __repr__(self: Any) -> str:
        try:
            showing = _showing.objects
        except AttributeError:
            showing = _showing.objects = set()
        if id(self) in showing:
            return "..."
        showing.add(id(self))
        try:
            # A field left out of __init__ may be unset: attrs shows NOTHING for it.
            parts = ", ".join(
                f"{name}={show(getattr(self, name) if init else getattr(self, name, NOTHING))}"
                for name, show, init in shown)
            return f"{self.__class__.__qualname__.rsplit('>.', 1)[-1]}({parts})"
        finally:
            showing.remove(id(self))

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return compared(self) == compared(other)

    def __hash__(self: Any) -> int:
        return hash((salt, hashed(self)))

    for method in (__repr__, __eq__, __hash__):
        if method.__name__ not in cls.__dict__:
            method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
            setattr(cls, method.__name__, method)
    return cls
