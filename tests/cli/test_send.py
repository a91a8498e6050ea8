"""``spectrum-sync send`` against an emulator, with good and bad input."""

from __future__ import annotations

import json
import socket

from cli_helpers import ALICE, LINES, assert_error, base_env, run_cli

from spectrum_sync.emulator import Emulator


def sent_texts(emu: Emulator) -> list[str]:
    return [m["text"] for m in emu.messages() if m["is_from_me"]]


def test_send_prints_guid_space_and_line(emu: Emulator, env: dict[str, str]) -> None:
    proc = run_cli("send", "--to", "+1 (555) 111-1111", "Your order has shipped", env=env)
    assert proc.returncode == 0, proc.stderr
    [record] = emu.messages()
    assert record["text"] == "Your order has shipped" and record["is_from_me"]
    assert proc.stdout == (f"sent {record['guid']} to any;-;{ALICE} via {record['line']}\n")
    assert record["line"] in LINES


def test_send_options(emu: Emulator, env: dict[str, str]) -> None:
    first = run_cli("send", "--to", "alice@example.com", "--phone", LINES[1], "--json",
                    "--idempotency-key", "order-42", "shipped", env=env)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["space"] == "any;-;alice@example.com" and result["line"] == LINES[1]
    assert result["type"] == "dm"
    again = run_cli("send", "--to", "alice@example.com", "--phone", LINES[1], "--json",
                    "--idempotency-key", "order-42", "shipped", env=env)
    assert json.loads(again.stdout)["guid"] == result["guid"]  # the key made it one message
    assert sent_texts(emu) == ["shipped"]

    piped = run_cli("send", "--space", result["space"], "--phone", LINES[1],
                    "--reply-to", result["guid"], "-", env=env, stdin="from stdin\n")
    assert piped.returncode == 0, piped.stderr
    assert sent_texts(emu) == ["shipped", "from stdin"]
    [call] = [c.request for c in emu.requests if c.method == "SendTextMessage"
              and getattr(c.request, "text", None) == "from stdin"]
    assert call.reply_to.message_guid == result["guid"]  # type: ignore[union-attr]


def test_bad_input_is_one_line_and_nothing_is_sent(emu: Emulator, env: dict[str, str]
                                                   ) -> None:
    assert_error(run_cli("send", "--to", "not a number", "hi", env=env), 2,
                 "invalid address", "not a number")
    line = assert_error(run_cli("send", "--to", ALICE, "--phone", "+19995550000", "hi",
                                env=env), 2, "+19995550000")
    assert all(number in line for number in LINES)  # the available numbers, listed
    line = assert_error(run_cli("send", "--space", f"any;-;{ALICE}", "hi", env=env), 2,
                        "--phone")
    assert all(number in line for number in LINES)
    assert_error(run_cli("send", "--to", ALICE, "", env=env), 2, "empty")
    assert_error(run_cli("send", "--to", ALICE, "--space", "x", "hi", env=env), 2,
                 "not allowed with")
    assert emu.messages() == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_runtime_failures_are_one_line_with_status_1(emu: Emulator) -> None:
    unreachable = base_env({**emu.env(),
                            "SPECTRUM_CLOUD_URL": f"http://127.0.0.1:{_closed_port()}"})
    assert_error(run_cli("--timeout", "5", "send", "--to", ALICE, "hi", env=unreachable), 1,
                 "cannot reach")
    wrong_secret = base_env({**emu.env(), "SPECTRUM_PROJECT_SECRET": "wrong"})
    line = assert_error(run_cli("send", "--to", ALICE, "hi", env=wrong_secret), 1)
    assert "wrong" not in line  # never print a secret
    emu.fail_next(1, code="INVALID_ARGUMENT", retryable=False, method="SendTextMessage")
    assert_error(run_cli("send", "--to", ALICE, "hi", env=base_env(emu.env())), 2,
                 "injected fault")
    emu.fail_next(1, code="PERMISSION_DENIED", retryable=False, method="SendTextMessage")
    assert_error(run_cli("send", "--to", ALICE, "hi", env=base_env(emu.env())), 1,
                 "injected fault")
    assert emu.messages() == []


def test_send_with_a_throwaway_emulator() -> None:
    for args in (["--emulator", "send"], ["send", "--emulator"]):
        proc = run_cli(*args, "--to", "+1 555 111 1111", "hi", env=base_env())
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("sent ") and f"to any;-;{ALICE} via +1555000000" \
            in proc.stdout
        assert "throwaway emulator" in proc.stderr and "http://127.0.0.1:" in proc.stderr
    shared = run_cli("--emulator", "--emulator-plan", "shared", "-q", "send", "--to", ALICE,
                     "hi", env=base_env())
    assert shared.returncode == 0 and shared.stderr == ""
    assert shared.stdout.endswith(" via shared\n")
    assert_error(run_cli("--emulator", "-q", "send", "--to", "nope", "hi", env=base_env()),
                 2, "invalid address")
    assert_error(run_cli("--emulator", "-q", "send", "--to", ALICE, "--phone", "+19995550000",
                         "hi", env=base_env()), 2, "+15550000001, +15550000002")


def _requests(emu: Emulator, method: str) -> list[object]:
    return [c.request for c in emu.requests if c.method == method]


def test_send_a_file_with_an_effect(emu: Emulator, env: dict[str, str], tmp_path) -> None:
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4 " + bytes(range(256)) * 100)
    proc = run_cli("send", "--to", ALICE, "--file", str(report), "--effect", "Confetti",
                   "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    [upload] = _requests(emu, "UploadAttachment")
    assert upload.file_name == "report.pdf"  # type: ignore[attr-defined]
    assert upload.data == report.read_bytes()  # type: ignore[attr-defined]
    [send] = _requests(emu, "SendAttachmentMessage")
    assert send.effect_id == "com.apple.messages.effect.CKConfettiEffect"  # type: ignore[attr-defined]
    assert json.loads(proc.stdout)["guid"]


def test_send_text_and_file_in_one_message(emu: Emulator, env: dict[str, str], tmp_path
                                           ) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    proc = run_cli("send", "--to", ALICE, "--file", str(photo), "look at this", env=env)
    assert proc.returncode == 0, proc.stderr
    assert len(_requests(emu, "SendMultipartMessage")) == 1
    assert _requests(emu, "SendTextMessage") == []


def test_send_file_and_effect_errors_are_one_line(emu: Emulator, env: dict[str, str],
                                                  tmp_path) -> None:
    assert_error(run_cli("send", "--to", ALICE, "--file", str(tmp_path / "nope.png"), env=env),
                 2, "nope.png", "does not exist")
    assert_error(run_cli("send", "--to", ALICE, "--effect", "sparkly", "hi", env=env), 2,
                 "unknown effect 'sparkly'", "confetti")
    assert_error(run_cli("send", "--to", ALICE, env=env), 2, "TEXT", "--file")
    assert emu.messages() == []
