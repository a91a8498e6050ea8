"""``spectrum-sync send``: send one message (from a shell script, a cron job, by hand)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from spectrum_sync._cli.common import Session, UsageError
from spectrum_sync._effects import MESSAGE_EFFECTS

if TYPE_CHECKING:
    from spectrum_sync import Client, Message, Space
    from spectrum_sync._attachments import FileSource

HELP = ("Send one message to a person (--to, a DM) or into an existing space (--space, e.g. a "
        "group's id as `listen` prints it): a text, a file (--file), or both in one message. "
        "Prints the message guid, the space and the line. TEXT '-' reads the text from stdin; "
        "--stream sends stdin as it comes, line by line, into one message (e.g. an LLM's "
        "answer piped in).")


def configure(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", metavar="ADDRESS",
                        help="phone number (any format) or e-mail address of the recipient")
    target.add_argument("--space", metavar="ID", help="id (chat guid) of an existing space")
    parser.add_argument("text", metavar="TEXT", nargs="?",
                        help="the message ('-': read it from stdin); optional with --file")
    parser.add_argument("--file", metavar="PATH",
                        help="send this file (with TEXT: both in one message)")
    parser.add_argument("--phone", metavar="LINE",
                        help="send from this line (dedicated plans; default: the line that "
                             "already serves the conversation, else one at random)")
    parser.add_argument("--idempotency-key", metavar="KEY",
                        help="your own key: sending again with it never sends a second message")
    parser.add_argument("--reply-to", metavar="GUID", help="a threaded reply to this message")
    parser.add_argument("--effect", metavar="NAME",
                        help=f"an expressive send effect: {', '.join(MESSAGE_EFFECTS)} "
                             "(or an effect id)")
    parser.add_argument("--markdown", action="store_true",
                        help="TEXT is markdown: sent with bold, italic and strikethrough as "
                             "iMessage shows them (needs spectrum-sync[markdown])")
    parser.add_argument("--link-preview", action="store_true",
                        help="ask for a rich preview of the link in TEXT")
    parser.add_argument("--stream", action="store_true",
                        help="send stdin line by line as it arrives, as one message edited "
                             "as it grows (at most 5 edits)")
    parser.add_argument("--state", metavar="URL",
                        help="state store shared with your app (routing, quota counters), "
                             "e.g. sqlite:///spectrum.db")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace, session: Session) -> int:
    session.configure_logging()
    _check_modes(args)
    text = None if args.stream else _text(args)
    file = _file(args.file)
    with session.client(state=args.state) as client:
        if args.to is not None:
            user = client.user(args.to)
            space = client.space.create(user, phone=args.phone)
        else:
            space = _existing_space(client, args.space, args.phone)
        options = {"reply_to": args.reply_to, "effect": args.effect,
                   "idempotency_key": args.idempotency_key}
        if args.stream:
            sent = space.send_stream(_stdin_lines(), reply_to=args.reply_to,
                                     idempotency_key=args.idempotency_key)
        elif file is None:
            assert text is not None
            sent = space.send(None if args.markdown else text,
                              markdown=text if args.markdown else None,
                              link_preview=args.link_preview, **options)
        elif text is None:
            sent = _send_file(session, space, file, options)
        else:
            session.progress(f"uploading {file.label}...")
            sent = space.send_parts([text, file.path or file.read_all()], **options)
    if args.json:
        session.print(json.dumps({"guid": sent.guid, "space": sent.space.id,
                                  "type": sent.space.type, "line": sent.space.phone}))
    else:
        session.print(f"sent {sent.guid} to {sent.space.id} via {sent.space.phone}")
    return 0


def _send_file(session: Session, space: Space, file: FileSource,
               options: dict[str, Any]) -> Message:
    """The file alone, with a progress bar on a terminal for a large one."""
    from spectrum_sync._cli.progress import progress_bar

    content = file.path or file.read_all()
    bar = progress_bar(session, f"uploading {file.name}", file.size)
    if bar is None:
        session.progress(f"uploading {file.label}...")
        return space.send_file(content, name=file.name, **options)
    with bar:
        return space.send_file(content, name=file.name, progress=bar, **options)


def _check_modes(args: argparse.Namespace) -> None:
    """Options that cannot go together: usage errors before connecting."""
    if args.stream:
        if args.text not in (None, "-"):
            raise UsageError("--stream reads the text from stdin: give no TEXT (or '-')")
        clashes = [name for name, given in (
            ("--file", args.file is not None), ("--effect", args.effect is not None),
            ("--link-preview", args.link_preview),
            # As the official SDK: a streamed markdown text has no iMessage form.
            ("--markdown", args.markdown)) if given]
        if clashes:
            raise UsageError(f"--stream does not go with {', '.join(clashes)}")
    elif args.file is not None and (args.markdown or args.link_preview):
        raise UsageError("--markdown and --link-preview go with a TEXT alone, not --file")


def _stdin_lines() -> Iterator[str]:
    """Stdin's lines as they arrive, without the last newline (``echo`` adds one)."""
    newline = ""
    for line in sys.stdin:
        body = line[:-1] if line.endswith("\n") else line
        yield newline + body
        newline = "\n"


def _text(args: argparse.Namespace) -> str | None:
    if args.text is None:
        if args.file is None:
            raise UsageError("give the message TEXT, or --file PATH")
        return None
    text: str = sys.stdin.read() if args.text == "-" else args.text
    if args.text == "-":
        text = text.rstrip("\n")  # `echo hi | ...` should send "hi", not "hi\n"
    if not text.strip():
        if args.file is not None:
            return None
        raise UsageError("the message text is empty")
    return text


def _file(path: str | None) -> FileSource | None:
    """The file to send, checked before connecting (a missing file is a usage error)."""
    if path is None:
        return None
    from spectrum_sync import ValidationError
    from spectrum_sync._attachments import file_source

    try:
        return file_source(path)
    except ValidationError as exc:
        raise UsageError(exc.message) from None


def _existing_space(client: Client, space_id: str, phone: str | None) -> Space:
    from spectrum_sync import RoutingError

    try:
        return client.space.get(space_id, phone=phone)
    except RoutingError as exc:
        if phone is not None:
            raise
        # This process has not seen the space yet: say how to name its line here.
        raise UsageError(f"cannot tell which line serves {space_id!r}: pass --phone LINE "
                         f"(available: {', '.join(exc.available)})") from None
