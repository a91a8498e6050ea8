"""The public surface, pinned: a name added or removed here is a deliberate API change."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import spectrum_sync

PUBLIC = [
    "AlreadyReceiving", "Attachment", "AuthenticationError", "CheckResult", "Client",
    "ClientClosed",
    "CloudError", "ConfigurationError", "ConnectionError", "EVENT_KINDS", "Event",
    "FocusStatus", "GroupChanged", "Handle", "Inbox", "InvalidAddress", "Line", "LineHealth",
    "LineInfo", "MemoryStore", "Mention", "Message", "MessageEdited", "MessageRead",
    "MessageUnsent", "NotFoundError", "Part", "Poll", "PollChanged", "PollOption",
    "PollVote", "QuotaExceeded", "QuotaLimits", "QuotaUsage", "RateLimitError", "Reaction",
    "ReceiveOptions", "RedisStore", "RetryPolicy", "RoutingError", "SQLiteStore", "Space",
    "SpectrumError", "StateStore", "StateStoreError", "StickerPlaced", "TextFormat",
    "UnsupportedError", "User", "ValidationError", "__version__",
    # fidelity to the service: duplicateMessage, group icons, friend locations
    "AlreadySent", "FriendLocation", "Icon", "LocationRequest",
    # the whole protocol: delivery state, cards, contacts, stickers, chat events
    "AppCard", "CardLayout", "ChatChanged", "Contact", "DeliveryFailed", "DeliveryTimeout",
    "EmbeddedMedia", "StickerPlacement",
]
PUBLIC_MODULES = {"spectrum_sync", "spectrum_sync.cli", "spectrum_sync.emulator"}


def test_all_is_pinned() -> None:
    assert sorted(spectrum_sync.__all__) == sorted(PUBLIC)


def test_every_public_name_resolves_and_is_documented() -> None:
    for name in spectrum_sync.__all__:
        value = getattr(spectrum_sync, name)
        if isinstance(value, type):
            assert value.__doc__, f"{name} has no docstring"


def test_unknown_names_raise_attribute_error() -> None:
    try:
        spectrum_sync.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_internal_modules_are_private() -> None:
    top = [m.name for m in pkgutil.iter_modules(spectrum_sync.__path__)]
    public = {f"spectrum_sync.{m}" for m in top if not m.startswith("_")}
    # Optional integrations are public modules of their own; everything else is private.
    allowed = PUBLIC_MODULES | {"spectrum_sync.webhooks", "spectrum_sync.flask",
                                "spectrum_sync.django", "spectrum_sync.pytest_plugin"}
    assert public <= allowed, public - allowed


def test_connection_error_is_also_the_builtin() -> None:
    # Kept under its meaningful name (it shadows the builtin only when imported bare):
    # generic network handlers catch it as the builtin too.
    assert issubclass(spectrum_sync.ConnectionError, ConnectionError)
    assert spectrum_sync.ConnectionError is not ConnectionError


def test_import_is_light() -> None:
    """``import spectrum_sync`` loads no gRPC, protobuf, attrs or the emulator."""
    code = ("import sys, spectrum_sync; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('grpc', 'google', 'attr', 'attrs', 'phonenumbers', 'sqlite3')"
            " or m.startswith('spectrum_sync.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]", out


def test_private_modules_import_on_their_own() -> None:
    for info in pkgutil.walk_packages(spectrum_sync.__path__, "spectrum_sync."):
        if info.name.split(".")[1].startswith("_") and ".emulator" not in info.name:
            if info.name.startswith(("spectrum_sync._proto", "spectrum_sync._local",
                                     "spectrum_sync.__main__")):
                continue
            importlib.import_module(info.name)
