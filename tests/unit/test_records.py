"""The field methods of the frozen classes (spectrum_sync/_records.py) against attrs's own.

Every class given ``@field_methods`` is compared with a twin that attrs builds from the same
fields (same names, same ``repr``/``eq``/``hash`` flags and key functions), generating its
methods itself: the reprs must read the same, and equality and hashing must agree pair by
pair, so that the shared methods cannot drift from what attrs would write.
"""

from __future__ import annotations

import importlib
from typing import Any

import attrs
import pytest

import spectrum_sync
from spectrum_sync._records import field_methods

MODULES = ["_values", "_feature_values", "_models", "_config", "_app_cards", "_contacts",
           "_markdown", "_parts", "_users", "_backend.quotas"]


@field_methods
@attrs.frozen(repr=False, eq=False)
class _Probe:
    value: int


GENERIC_EQ = _Probe.__eq__.__code__


def _has_field_methods(value: object) -> bool:
    return isinstance(value, type) and getattr(value.__eq__, "__code__", None) is GENERIC_EQ


def _classes() -> list[type]:
    """The public classes and the classes of the modules that have the field methods."""
    found: dict[str, type] = {}
    candidates = [getattr(spectrum_sync, name) for name in spectrum_sync.__all__]
    for module in MODULES:
        candidates += vars(importlib.import_module(f"spectrum_sync.{module}")).values()
    for value in candidates:
        if _has_field_methods(value):
            found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[key] for key in sorted(found)]


CLASSES = _classes()


def _twin(cls: type) -> type:
    """A frozen class with ``cls``'s fields whose methods attrs generates."""
    fields = {
        f.name: attrs.field(repr=f.repr, eq=f.eq_key or f.eq, hash=f.hash, init=f.init)
        for f in attrs.fields(cls)}
    twin = attrs.make_class(cls.__name__, fields, frozen=True, kw_only=True)
    twin.__qualname__ = cls.__qualname__
    return twin


def _build(cls: type, values: dict[str, Any]) -> Any:
    """An instance holding ``values`` as they are (validators and converters left out)."""
    made = object.__new__(cls)
    for name, value in values.items():
        object.__setattr__(made, name, value)
    return made


def _values(cls: type, tag: str) -> dict[str, Any]:
    return {f.name: f"{f.name}-{tag}" for f in attrs.fields(cls)}


def test_the_shared_methods_cover_the_classes_a_send_loads() -> None:
    names = {cls.__name__ for cls in CLASSES}
    assert {"User", "Line", "Space", "Message", "Received", "TextFormat", "AppCard",
            "Contact", "Part", "QuotaUsage", "CacheStats"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__qualname__)
def test_repr_eq_and_hash_are_what_attrs_generates(cls: type) -> None:
    twin = _twin(cls)
    base = _values(cls, "one")
    ours, theirs = _build(cls, base), _build(twin, base)
    assert repr(ours) == repr(theirs)
    assert (cls.__hash__ is None) == (twin.__hash__ is None)
    same = _build(cls, dict(base))
    assert ours == same
    assert not ours != same  # noqa: SIM202 (__ne__ is what is tested)
    assert hash(ours) == hash(same)
    # Each field changed alone: equal for ours exactly when equal for attrs's.
    for name in base:
        changed = {**base, name: f"{name}-two"}
        ours_changed, theirs_changed = _build(cls, changed), _build(twin, changed)
        assert (ours == ours_changed) == (theirs == theirs_changed), name
        assert (ours != ours_changed) == (theirs != theirs_changed), name
        if theirs == theirs_changed:
            assert hash(ours) == hash(ours_changed), name
        assert repr(ours_changed) == repr(theirs_changed)
    # Only the very same class compares: another type, even one with the same fields, is
    # NotImplemented (and so unequal), as with attrs.
    assert cls.__eq__(ours, theirs) is NotImplemented
    assert twin.__eq__(theirs, ours) is NotImplemented
    assert ours != theirs
    assert cls.__eq__(ours, object()) is NotImplemented


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__qualname__)
def test_a_cycle_reprs_as_attrs_shows_it(cls: type) -> None:
    shown = [f.name for f in attrs.fields(cls) if f.repr is True]
    if not shown:
        pytest.skip("no field shown with repr()")
    twin = _twin(cls)
    ours, theirs = _build(cls, _values(cls, "one")), _build(twin, _values(cls, "one"))
    object.__setattr__(ours, shown[0], ours)
    object.__setattr__(theirs, shown[0], theirs)
    assert repr(ours) == repr(theirs)
    assert "..." in repr(ours)


def test_a_subclass_instance_is_not_equal_to_its_base() -> None:
    @attrs.frozen(repr=False, eq=False)
    class Child(_Probe):
        pass

    assert _Probe(1) == _Probe(1)
    assert _Probe(1) != Child(1)
    assert _Probe.__eq__(_Probe(1), Child(1)) is NotImplemented
    # attrs shows a class defined in a function by its name after "<locals>.".
    assert repr(Child(1)) == "Child(value=1)"


def test_attrs_functions_still_work_on_the_classes() -> None:
    from spectrum_sync import Line, User

    user = User("+15550001111")
    assert attrs.evolve(user, service="iMessage") == User("+15550001111", service="iMessage")
    assert attrs.asdict(user) == {"address": "+15550001111", "country": None,
                                  "service": "unknown"}
    assert [f.name for f in attrs.fields(Line)] == ["address", "token", "phone", "tls"]
    assert "secret" not in repr(Line("localhost:1", "secret-token", "+15550001111"))
