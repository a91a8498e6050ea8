"""A fake ``osascript`` for the sender tests: it records what it was given.

Installed as an executable named ``osascript`` in a folder put first on ``PATH``. Each run
appends one JSON line to its log: argv and stdin as hex (so bytes compare exactly), and the
contents of every argv item that names an existing file at that moment (the staged attachment,
the temporary file of a long text), since those are gone once the send returns. Environment
variables choose its behaviour: ``FAKE_OSASCRIPT_SLEEP`` (seconds), ``FAKE_OSASCRIPT_STDERR``
and ``FAKE_OSASCRIPT_EXIT``; with ``FAKE_OSASCRIPT_ECHO_DB`` (a chat.db path) a successful run
also records the sent text there as our own message, as Messages does, before sleeping.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

PROGRAM = """\
import json, os, sys, time

script = sys.stdin.buffer.read()
argv = [os.fsencode(item) for item in sys.argv]
files = {}
for item in argv[1:]:
    try:
        if os.path.isfile(item):
            with open(item, "rb") as handle:
                files[item.hex()] = handle.read().hex()
    except (OSError, ValueError):
        pass
with open(os.environ["FAKE_OSASCRIPT_LOG"], "a") as log:
    log.write(json.dumps({"argv": [a.hex() for a in argv], "stdin": script.hex(),
                          "files": files}) + "\\n")
echo_db = os.environ.get("FAKE_OSASCRIPT_ECHO_DB")
if echo_db and os.environ.get("FAKE_OSASCRIPT_EXIT", "0") == "0" and len(sys.argv) == 7:
    # Play Messages: record the sent text in chat.db as our own row, in its chat.
    import sqlite3, uuid
    kind, target, service, payload_kind, payload = sys.argv[2:7]  # after "-"
    text = payload
    if payload_kind == "text-file":
        with open(payload, encoding="utf-8") as handle:
            text = handle.read()
    elif payload_kind == "file":
        text = "\ufffc"
    conn = sqlite3.connect(echo_db, timeout=10, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    if kind == "chat":
        row = conn.execute("SELECT ROWID FROM chat WHERE guid = ?", (target,)).fetchone()
        if row is None:
            sys.stderr.write(f"execution error: Messages has no chat with id {target} (74003)")
            sys.exit(1)
    else:
        row = conn.execute("SELECT ROWID FROM chat WHERE chat_identifier = ? AND style = 45"
                           " ORDER BY ROWID DESC", (target,)).fetchone()
        if row is None:
            cur = conn.execute(
                "INSERT INTO chat (guid, style, chat_identifier, service_name)"
                " VALUES (?, 45, ?, ?)",
                (f"any;-;{target}", target, service))
            row = (cur.lastrowid,)
    now = int((time.time() - 978307200) * 1e9)
    cur = conn.execute(
        "INSERT INTO message (guid, text, is_from_me, date, service, handle_id, is_sent)"
        " VALUES (?, ?, 1, ?, ?, 0, 1)",
        (str(uuid.uuid4()).upper(), text, now, service or "iMessage"))
    conn.execute("INSERT INTO chat_message_join (chat_id, message_id) VALUES (?, ?)",
                 (row[0], cur.lastrowid))
    conn.execute("COMMIT")
    conn.close()
time.sleep(float(os.environ.get("FAKE_OSASCRIPT_SLEEP", "0")))
sys.stderr.write(os.environ.get("FAKE_OSASCRIPT_STDERR", ""))
sys.exit(int(os.environ.get("FAKE_OSASCRIPT_EXIT", "0")))
"""


@dataclass
class Call:
    """One recorded run: ``args`` are the argv items after the program name."""

    args: list[bytes]
    stdin: bytes
    files: dict[bytes, bytes]


class FakeOsascript:
    """The installed fake and its log."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.program = folder / "osascript"
        self.program.write_text(f"#!{sys.executable}\n{PROGRAM}")
        self.program.chmod(self.program.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP)
        self.log = folder / "calls.jsonl"

    def env(self) -> dict[str, str]:
        return {"FAKE_OSASCRIPT_LOG": str(self.log)}

    def calls(self) -> list[Call]:
        if not self.log.exists():
            return []
        calls = []
        for line in self.log.read_text().splitlines():
            record = json.loads(line)
            calls.append(Call(
                args=[bytes.fromhex(item) for item in record["argv"][1:]],
                stdin=bytes.fromhex(record["stdin"]),
                files={bytes.fromhex(k): bytes.fromhex(v) for k, v in record["files"].items()},
            ))
        return calls

    def last(self) -> Call:
        calls = self.calls()
        assert calls, "osascript was not run"
        return calls[-1]


def path_with(folder: Path) -> str:
    return f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"
