"""Polls: the poll as the server last described it, and the actions on it."""

from __future__ import annotations

import attrs

from ._errors import ValidationError
from ._feature_values import PollOption, PollVote
from ._models import Space, _key
from ._validate import check_text, check_timeout, poll_option_key
from ._values import User

__all__ = ["Poll", "PollVote"]


@attrs.frozen(kw_only=True)
class Poll:
    """A poll in ``space``: its message ``guid``, ``title``, ``options`` and ``votes`` (who
    voted for what), as of when it was fetched. Each action returns the poll as the server
    describes it afterwards; :meth:`refresh` fetches it again."""

    guid: str
    space: Space
    title: str
    options: tuple[PollOption, ...] = ()
    votes: tuple[PollVote, ...] = ()

    def option(self, option: PollOption | str) -> PollOption:
        """The option given as a PollOption, its id or its text."""
        if isinstance(option, PollOption):
            option = option.id
        if not isinstance(option, str):
            raise ValidationError(f"an option is a PollOption, its id or its text, not "
                                  f"{option!r}")
        for candidate in self.options:
            if candidate.id == option:
                return candidate
        for candidate in self.options:
            if candidate.text == option:
                return candidate
        listed = ", ".join(repr(o.text) for o in self.options)
        raise ValidationError(f"poll {self.title!r} has no option {option!r} (options: "
                              f"{listed})")

    def votes_for(self, option: PollOption | str) -> tuple[User, ...]:
        """Who voted for ``option`` (voters the server names)."""
        chosen = self.option(option).id
        return tuple(v.voter for v in self.votes if v.option_id == chosen and v.voter)

    def vote(self, option: PollOption | str, *, idempotency_key: str | None = None,
             timeout: float | None = None) -> Poll:
        """Vote for ``option`` (a PollOption, its id or its text); a vote replaces the
        line's previous one."""
        return self.space._ops.change_poll(self, "vote", self.option(option).id,
                                           idempotency_key=_key(idempotency_key),
                                           timeout=check_timeout(timeout))

    def unvote(self, *, idempotency_key: str | None = None,
               timeout: float | None = None) -> Poll:
        """Withdraw the line's vote."""
        return self.space._ops.change_poll(self, "unvote", None,
                                           idempotency_key=_key(idempotency_key),
                                           timeout=check_timeout(timeout))

    def add_option(self, text: str, *, idempotency_key: str | None = None,
                   timeout: float | None = None) -> Poll:
        """Add an option (refused when the poll already has one with this text)."""
        text = check_text("option", text)
        if any(poll_option_key(o.text) == poll_option_key(text) for o in self.options):
            raise ValidationError(f"poll {self.title!r} already has the option {text!r}")
        return self.space._ops.change_poll(self, "add_option", text,
                                           idempotency_key=_key(idempotency_key),
                                           timeout=check_timeout(timeout))

    def refresh(self, *, timeout: float | None = None) -> Poll:
        """The poll as the server describes it now."""
        return self.space._ops.get_poll(self.space, self.guid, timeout=check_timeout(timeout))
