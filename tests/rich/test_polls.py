"""Polls: create, vote, unvote, add options, refresh; who voted for what; inbound events."""

from __future__ import annotations

import pytest
from rich_helpers import ALICE, BOB, LINE_1, calls

import spectrum_sync as spectrum
from spectrum_sync import Client, Poll, Space
from spectrum_sync.emulator import Emulator


@pytest.fixture
def poll(dm: Space) -> Poll:
    return dm.create_poll("Lunch?", ["Sushi", "Pizza"])


def test_create_vote_unvote_add_option_refresh(emu: Emulator, client: Client, dm: Space,
                                               poll: Poll) -> None:
    assert poll.title == "Lunch?" and poll.space == dm and poll.votes == ()
    assert [o.text for o in poll.options] == ["Sushi", "Pizza"]
    [create] = calls(emu, "CreatePoll")
    assert (create.chat_guid, create.title, list(create.options)) == (
        dm.id, "Lunch?", ["Sushi", "Pizza"])
    pizza = poll.option("Pizza")
    voted = poll.vote("Pizza")
    assert [(v.voter.address if v.voter else None, v.option_id, v.option_text)
            for v in voted.votes] == [(LINE_1, pizza.id, "Pizza")]
    # By id and by PollOption too; a vote replaces the previous one.
    sushi = poll.option("Sushi")
    assert poll.vote(sushi.id).votes[0].option_text == "Sushi"
    assert poll.vote(pizza).votes[0].option_text == "Pizza"
    assert [r.option_identifier for r in calls(emu, "VotePoll")] == [pizza.id, sushi.id,
                                                                     pizza.id]
    emu.simulate_poll_vote(ALICE, poll.guid, "Sushi")
    emu.simulate_poll_vote(BOB, poll.guid, "Sushi")
    fresh = poll.refresh()
    assert {u.address for u in fresh.votes_for("Sushi")} == {ALICE, BOB}
    assert [u.address for u in fresh.votes_for(pizza)] == [LINE_1]
    assert fresh.unvote().votes_for("Pizza") == ()
    grown = fresh.add_option("Tacos")
    assert [o.text for o in grown.options] == ["Sushi", "Pizza", "Tacos"]
    assert dm.poll(poll.guid) == grown
    assert client.quota(LINE_1).messages == 1  # the poll is a message; votes are not


def test_inbound_poll_events_say_who_voted_for_what(emu: Emulator, client: Client,
                                                    dm: Space) -> None:
    with client.events("poll") as events:
        guid = emu.simulate_poll(ALICE, dm.id, "Movie?", ["Alien", "Heat"], line=LINE_1)
        created = next(iter(events))
        emu.simulate_poll_vote(BOB, guid, "Heat", line=LINE_1)
        voted = next(iter(events))
    assert isinstance(created, spectrum.PollChanged) and created.change == "created"
    assert created.title == "Movie?" and [o.text for o in created.options] == ["Alien", "Heat"]
    assert isinstance(voted, spectrum.PollChanged) and voted.change == "voted"
    assert voted.actor is not None and voted.actor.address == BOB
    heat = next(o for o in created.options if o.text == "Heat")
    assert voted.option_id == heat.id
    current = voted.poll()
    assert [(v.voter.address if v.voter else None, v.option_text) for v in current.votes] == [
        (BOB, "Heat")]
    # The line votes too, through the poll it fetched.
    assert {v.option_text for v in current.vote("Alien").votes} == {"Alien", "Heat"}


def test_bad_polls_are_refused_before_any_call(emu: Emulator, dm: Space, poll: Poll) -> None:
    emu.clear_requests()
    cases = [
        (lambda: dm.create_poll("", ["a", "b"]), "title must not be empty"),
        (lambda: dm.create_poll("Q", []), "at least two options"),
        (lambda: dm.create_poll("Q", ["only"]), "at least two options"),
        (lambda: dm.create_poll("Q", ["Yes", "No", "yes "]), "duplicate poll option"),
        (lambda: dm.create_poll("Q", "ab"), "list of strings"),
        (lambda: dm.create_poll("Q", ["a", ""]), "must not be empty"),
        (lambda: poll.vote("Burgers"), "no option 'Burgers'"),
        (lambda: poll.add_option("pizza"), "already has the option"),
        (lambda: poll.add_option(""), "must not be empty"),
    ]
    for action, message in cases:
        with pytest.raises(spectrum.ValidationError, match=message):
            action()
    assert emu.requests == []
    with pytest.raises(spectrum.NotFoundError):
        dm.poll("no-such-poll")
