"""PollService: polls in chats, votes, options, and poll events."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import Message as ProtoMessage

from spectrum_sync._proto import common_pb2, messages_pb2, polls_pb2
from spectrum_sync.emulator import eventlog
from spectrum_sync.emulator.addresses import AddressDirectory
from spectrum_sync.emulator.clock import Clock
from spectrum_sync.emulator.errors import invalid, not_found
from spectrum_sync.emulator.gateway import Call
from spectrum_sync.emulator.guids import new_guid
from spectrum_sync.emulator.services.common import (
    Service,
    live_frames,
    outgoing_message,
    writable_chat,
)
from spectrum_sync.emulator.state import LineState, PollRecord

POLL_BUNDLE = "com.apple.messages.MSMessageExtensionBalloonPlugin:0000000000:com.apple.Polls"


def poll_info(poll: PollRecord, line: LineState, directory: AddressDirectory,
              ) -> polls_pb2.PollInfo:
    """The wire form of a poll (a fresh message)."""
    votes = []
    for voter, option in poll.votes.items():
        who = line.self_info() if voter == "" else directory.sender_info(voter)
        vote = polls_pb2.PollParticipantVote(option_identifier=option)
        if who is not None:
            vote.participant.CopyFrom(who)
        votes.append(vote)
    return polls_pb2.PollInfo(poll_message_guid=poll.guid, chat_guid=poll.chat_guid,
                              title=poll.title, options=poll.options, votes=votes)


def publish_poll_change(line: LineState, clock: Clock, poll: PollRecord,
                        actor: common_pb2.SingleServiceAddressInfo | None, is_from_me: bool,
                        change: str, payload: ProtoMessage) -> None:
    """Publish a ``PollChangeEvent``."""
    line.publish_change(eventlog.POLL, poll.chat_guid, clock.timestamp(), actor, is_from_me,
                        change, payload, poll_guid=poll.guid)


class PollService(Service):
    """photon.imessage.v1.PollService."""

    def _poll(self, call: Call, guid: str) -> PollRecord:
        if not guid:
            raise invalid("poll_message_guid is required", field="poll_message_guid")
        poll = call.line.polls.get(guid)
        if poll is None:
            raise not_found("pollNotFound", f"poll {guid!r} not found", pollMessageGuid=guid)
        return poll

    def _answer(self, call: Call, poll: PollRecord) -> polls_pb2.PollResponse:
        return polls_pb2.PollResponse(poll=poll_info(poll, call.line, self.emu.directory))

    def _mine(self, call: Call, poll: PollRecord, change: str, payload: ProtoMessage) -> None:
        publish_poll_change(call.line, self.emu.clock, poll, call.line.self_info(), True,
                            change, payload)

    def CreatePoll(self, request: polls_pb2.CreatePollRequest, call: Call,
                   ) -> polls_pb2.PollResponse:
        chat = writable_chat(call.line, request.chat_guid)
        if not request.title:
            raise invalid("title is empty", field="title")
        texts = [t for t in request.options if t]
        if len(texts) < 2:
            raise invalid("a poll needs at least two options", field="options")
        me = call.line.number or ""
        options = [polls_pb2.PollOption(text=t, option_identifier=new_guid(), creator_handle=me)
                   for t in texts]
        content = messages_pb2.MessageContent(text=request.title, balloon_bundle_id=POLL_BUNDLE)
        message = outgoing_message(self.emu, call.line, chat, content)
        poll = PollRecord(message.guid, chat.guid, request.title, options)
        call.line.polls[poll.guid] = poll
        self._mine(call, poll, "created", polls_pb2.PollCreated(title=poll.title,
                                                                 options=options))
        return self._answer(call, poll)

    def VotePoll(self, request: polls_pb2.VotePollRequest, call: Call,
                 ) -> polls_pb2.PollResponse:
        poll = self._poll(call, request.poll_message_guid)
        if request.option_identifier not in {o.option_identifier for o in poll.options}:
            raise invalid(f"unknown option {request.option_identifier!r}",
                          field="option_identifier")
        poll.votes[""] = request.option_identifier
        self._mine(call, poll, "voted",
                   polls_pb2.PollVoted(option_identifier=request.option_identifier))
        return self._answer(call, poll)

    def UnvotePoll(self, request: polls_pb2.UnvotePollRequest, call: Call,
                   ) -> polls_pb2.PollResponse:
        poll = self._poll(call, request.poll_message_guid)
        option = poll.votes.pop("", None)
        if option is not None:
            self._mine(call, poll, "unvoted", polls_pb2.PollUnvoted(option_identifier=option))
        return self._answer(call, poll)

    def AddPollOption(self, request: polls_pb2.AddPollOptionRequest, call: Call,
                      ) -> polls_pb2.PollResponse:
        poll = self._poll(call, request.poll_message_guid)
        if not request.option_text:
            raise invalid("option_text is empty", field="option_text")
        poll.options.append(polls_pb2.PollOption(
            text=request.option_text, option_identifier=new_guid(),
            creator_handle=call.line.number or ""))
        self._mine(call, poll, "option_added",
                   polls_pb2.PollOptionAdded(title=poll.title, options=poll.options))
        return self._answer(call, poll)

    def GetPoll(self, request: polls_pb2.GetPollRequest, call: Call) -> polls_pb2.PollResponse:
        return self._answer(call, self._poll(call, request.poll_message_guid))

    def SubscribePollEvents(self, request: polls_pb2.SubscribePollEventsRequest, call: Call,
                            ) -> Iterable[ProtoMessage]:
        wanted = request.poll_message_guid if request.HasField("poll_message_guid") else None
        return live_frames(self.emu, call, eventlog.POLL, polls_pb2.SubscribePollEventsResponse,
                           "poll_changed", lambda e: wanted is None or e.poll_guid == wanted)
