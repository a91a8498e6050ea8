"""The emulator's control API for delivery state, stickers, app cards, Digital Touch and
chat events (mixed into :class:`~spectrum_sync.emulator.Emulator`; the work is done by
:class:`~spectrum_sync.emulator.simulate.RemoteParties`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spectrum_sync.emulator.simulate import RemoteParties

__all__ = ["RichControls"]


class RichControls:
    """Delivery state and the rarer inbound kinds (see docs/behaviour.md)."""

    _simulator: RemoteParties

    def mark_delivered(self, message_guid: str, *, quietly: bool = False,
                       line: str | None = None) -> None:
        """Report one of our messages delivered (``quietly``: to a recipient in Focus)."""
        self._simulator.set_delivery(message_guid, line=line, delivered=True, quietly=quietly)

    def fail_delivery(self, message_guid: str, error_code: int = 22, *,
                      line: str | None = None) -> None:
        """Report an Apple send error for one of our messages (``send_error_code``)."""
        if not isinstance(error_code, int) or error_code == 0:
            raise ValueError("error_code must be a non-zero integer")
        self._simulator.set_delivery(message_guid, line=line, error_code=error_code)

    def mark_played(self, message_guid: str, *, line: str | None = None) -> None:
        """Report one of our voice messages played."""
        self._simulator.set_delivery(message_guid, line=line, played=True)

    def simulate_sticker(self, from_: str, message_guid: str, image: tuple[str, bytes], *,
                         part: int | None = None, x: float = 0.5, y: float = 0.5,
                         line: str | None = None) -> None:
        """``from_`` places the sticker ``image=(file_name, data)`` on a message."""
        self._simulator.simulate_sticker(from_, message_guid, image, part=part, x=x, y=y,
                                         line=line)

    def simulate_app_card(self, from_: str, *, url: str, caption: str,
                          team_id: str = "TEAM123456", bundle_id: str = "com.example.app",
                          app_name: str = "Example", chat: str | None = None,
                          line: str | None = None) -> str:
        """``from_`` sends a mini-app card; returns the message guid."""
        return self._simulator.simulate_app_card(
            from_, url=url, caption=caption, team_id=team_id, bundle_id=bundle_id,
            app_name=app_name, chat=chat, line=line)

    def simulate_digital_touch(self, from_: str, data: bytes, mime_type: str = "image/png",
                               *, chat: str | None = None, line: str | None = None) -> str:
        """``from_`` sends a Digital Touch message (embedded media); returns its guid."""
        return self._simulator.simulate_digital_touch(from_, data, mime_type, chat=chat,
                                                      line=line)

    def simulate_chat_event(self, chat: str, change: str, *, line: str | None = None) -> int:
        """A chat is marked read, archived, unarchived, or its background set or removed on
        one of the line's devices; returns the event's sequence."""
        return self._simulator.simulate_chat_event(chat, change, line=line)
