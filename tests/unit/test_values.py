"""The plain values whose methods are shared functions (``_values._value``) behave exactly
as the attrs classes they were: equality, hashing, repr, frozen-ness, pickling and attrs'
own helpers, compared with reference classes that attrs generates."""

from __future__ import annotations

import pickle
import subprocess
import sys
from datetime import datetime, timezone
from typing import Any

import attrs
import pytest

from spectrum_sync import _values
from spectrum_sync._values import (
    EmbeddedMedia,
    FocusStatus,
    FriendLocation,
    LineInfo,
    LocationRequest,
    Mention,
    PollOption,
    PollVote,
    User,
)

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

#: (class, kw_only, a full set of field values, another value of the first field)
CASES: list[tuple[type[Any], bool, dict[str, Any], Any]] = [
    (User, False, {"address": "+15551111111", "country": "US", "service": "iMessage"}, "x@y.z"),
    (Mention, True, {"address": "a@b.co", "start": 0, "length": 3}, "c@d.co"),
    (FriendLocation, True, {"address": "a@b.co", "phone": "+15550000001", "name": "Ann",
                            "latitude": 1.5, "longitude": -2.25, "accuracy": 3.0,
                            "long_address": "1 Main St", "short_address": "Main",
                            "locating": False, "kind": "live", "located_at": WHEN,
                            "expires_at": None}, "b@b.co"),
    (LocationRequest, True, {"address": "a@b.co", "status": "sent", "reason": None,
                             "message_guid": "g"}, "b@b.co"),
    (FocusStatus, True, {"address": "a@b.co", "silenced": True}, "b@b.co"),
    (LineInfo, True, {"phone": "+15550000001", "instance_id": "i1", "address": "h:1",
                      "tls": False}, "+15550000002"),
    (PollOption, True, {"id": "o1", "text": "Yes", "creator": None}, "o2"),
    (PollVote, True, {"voter": User("+15551111111"), "option_id": "o1",
                      "option_text": "Yes"}, None),
]


def _reference(cls: type[Any], kw_only: bool) -> type[Any]:
    """What ``@attrs.frozen(kw_only=...)`` generates for the same fields and defaults."""
    fields = {a.name: attrs.field(default=a.default) if a.default is not attrs.NOTHING
              else attrs.field() for a in attrs.fields(cls)}
    return attrs.make_class(cls.__name__, fields, frozen=True, kw_only=kw_only)


@pytest.mark.parametrize("cls,kw_only,values,other", CASES,
                         ids=lambda c: getattr(c, "__name__", ""))
def test_values_behave_as_the_attrs_classes_they_were(cls: type[Any], kw_only: bool,
                                                     values: dict[str, Any],
                                                     other: Any) -> None:
    ref_cls = _reference(cls, kw_only)
    ours, ref = cls(**values), ref_cls(**values)
    first = next(iter(values))
    assert repr(ours) == repr(ref)
    assert ours == cls(**values) and not ours != cls(**values)  # noqa: SIM202
    assert hash(ours) == hash(cls(**values))
    changed = cls(**{**values, first: other})
    assert ours != changed and (ref != ref_cls(**{**values, first: other}))
    assert ours != ref and ours.__eq__(ref) is NotImplemented  # another class: never equal
    copy = pickle.loads(pickle.dumps(ours))
    assert copy == ours and type(copy) is cls and repr(copy) == repr(ours)
    assert attrs.has(cls) and [a.name for a in attrs.fields(cls)] == list(values)
    assert attrs.asdict(ours, recurse=False) == attrs.asdict(ref, recurse=False)
    assert attrs.evolve(ours, **{first: other}) == changed
    assert cls.__dict__["__match_args__"] == ref_cls.__dict__["__match_args__"]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(ours, first, other)
    with pytest.raises(AttributeError):
        ours.not_a_field = 1
    if kw_only:
        with pytest.raises(TypeError):
            cls(*values.values())
    defaults = {a.name: a.default for a in attrs.fields(cls) if a.default is not attrs.NOTHING}
    required = {k: v for k, v in values.items() if k not in defaults}
    assert attrs.asdict(cls(**required), recurse=False) == {**values, **defaults, **required}


def test_fields_compare_one_by_one_as_attrs_does() -> None:
    # ``self.a == other.a and ...``: no identity shortcut, so even the same NaN object is
    # unequal; the first unequal field's answer is the result.
    nan: Any = float("nan")
    one: Any = 1
    ref_cls = _reference(FocusStatus, True)
    assert FocusStatus(address="a", silenced=nan) != FocusStatus(address="a", silenced=nan)
    assert ref_cls(address="a", silenced=nan) != ref_cls(address="a", silenced=nan)
    assert FocusStatus(address="a", silenced=True) == FocusStatus(address="a", silenced=one)


def test_embedded_media_shows_its_size_not_its_bytes() -> None:
    media = EmbeddedMedia(data=b"\x00" * 5, mime_type="image/png")
    assert repr(media) == "EmbeddedMedia(data=<5 bytes>, mime_type='image/png')"
    assert media == EmbeddedMedia(data=b"\x00" * 5, mime_type="image/png")
    assert hash(media) == hash(EmbeddedMedia(data=b"\x00" * 5, mime_type="image/png"))


def test_a_value_needs_two_fields() -> None:
    class One:
        only: int

    with pytest.raises(TypeError, match="two fields"):
        _values._value(One)


def test_the_values_module_generates_no_methods_but_the_attrs_init_for_them() -> None:
    # attrs compiles the methods it generates for each class (most of a value's creation
    # cost; a one-shot script paid it for every value, bench/oneshot.py). The values above
    # write theirs: attrs only adds its __attrs_init__ for them.
    code = ("import builtins, attrs, spectrum_sync._errors, spectrum_sync._validate, "
            "spectrum_sync._effects\n"
            "scripts = {}\nreal = builtins.compile\n"
            "def recording(source, filename, *args, **kwargs):\n"
            "    scripts[filename] = source\n"
            "    return real(source, filename, *args, **kwargs)\n"
            "builtins.compile = recording\nimport spectrum_sync._values\n"
            "import re\nfor name, source in scripts.items():\n"
            "    if name.startswith('<attrs'):\n"
            "        print(name.split('.')[-1].rstrip('>'),\n"
            "              *re.findall(r'^def (\\w+)', source, re.M))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    generated = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    for cls, *_ in CASES:
        assert generated[cls.__name__] == ["__attrs_init__"], (cls, generated)
    assert generated["EmbeddedMedia"] == ["__attrs_init__"]
    assert "__eq__" in generated["TextFormat"]  # validators: attrs' own methods
