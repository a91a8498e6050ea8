"""The Flask integration under a real uWSGI with two processes: ``--lazy-apps`` (the app is
loaded in each worker), ``--py-call-osafterfork`` with a client made before the fork, and a
client made before the fork with neither (uWSGI then forks without Python's fork hooks: the
client's pid check alone must rebuild it)."""

from __future__ import annotations

import http.client
import json
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from integ_helpers import LINES, base_env, post_concurrently, require_package
from support.servers import Server
from support.tools import in_ci

from spectrum_sync.emulator import Emulator

REQUESTS = 100


def uwsgi_binary() -> str:
    beside = Path(sys.executable).parent / "uwsgi"
    found = str(beside) if beside.exists() else shutil.which("uwsgi")
    if found is None:
        message = ("uwsgi is not installed: pip install uwsgi (it compiles; needs a C "
                   "compiler and the Python headers; .ci/run installs it)")
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.mark.parametrize(("mode", "warm"), [
    (["--lazy-apps"], False),
    (["--py-call-osafterfork"], True),
    ([], True),
], ids=["lazy-apps", "py-call-osafterfork-client-made-before-fork",
        "no-fork-hooks-client-made-before-fork"])
def test_two_uwsgi_processes_send_one_message_per_request(
        mode: list[str], warm: bool, make_emu: Callable[..., Emulator],
        serve: Callable[..., Server], port: int, tmp_path: Path) -> None:
    require_package("flask", "flask")
    binary = uwsgi_binary()
    emu = make_emu()
    record = tmp_path / "record.jsonl"
    # A client made before the fork also sends there, with a SQLite store: the send's store
    # bookkeeping must start no thread in the master either.
    warm_env = ({"WARM_SEND": "+15557009999", "SPECTRUM_STATE": f"sqlite:///{tmp_path}/s.db"}
                if warm else {})
    env = base_env(emu, WARM_CLIENT="1" if warm else "0", RECORD_FILE=str(record), **warm_env)
    server = serve([binary, "--http-socket", f"127.0.0.1:{port}", "--master",
                    "--processes", "2", "--enable-threads", "--die-on-term", "--need-app",
                    "--module", "flask_app:app", "--disable-logging", *mode],
                   env=env, port=port)
    tag = "-".join(mode) or "plain"
    sent = [{"to": f"+1555700{i % 4:04d}", "phone": LINES[i % 2], "text": f"{tag} {i}",
             "key": f"{tag}-{i}", "hold": 0.01} for i in range(REQUESTS)]

    # Both workers must be taking requests before the burst (on a loaded machine the second
    # may start accepting after a fast first one has served all 100): a worker that never
    # answers still fails the test below.
    _wait_for_both_workers(port, server)
    answers = post_concurrently(port, "/send", sent, threads=20)

    failed = [a for a in answers if a[0] != 200]
    assert not failed, f"{failed[:3]}\n{server.log()}"
    assert len({body["pid"] for _, body in answers}) == 2, server.log()
    ours = [m for m in emu.messages() if m["is_from_me"] and m["text"] != "warm-up"]
    assert sorted(m["text"] for m in ours) == sorted(p["text"] for p in sent)
    assert len({body["guid"] for _, body in answers}) == REQUESTS
    if warm:
        # The client made in the master started no thread there (no token refresher): a
        # worker forked while one held the GIL would wait for it forever.
        [master] = [json.loads(line) for line in record.read_text().splitlines()]
        assert not [n for n in master["warm_threads"] if n.startswith("spectrum")], master
        assert [m["text"] for m in emu.messages() if m["text"] == "warm-up"] == ["warm-up"]


def _wait_for_both_workers(port: int, server: Server, within: float = 15.0) -> None:
    """Both workers answer ``/health`` within ``within`` seconds. A worker that never does
    fails here (one forked while a thread of the master held the GIL waits for it forever)."""
    pids: set[int] = set()
    deadline = time.monotonic() + within
    while len(pids) < 2 and time.monotonic() < deadline:
        with ThreadPoolExecutor(max_workers=8) as pool:
            pids.update(pool.map(lambda _: _health_pid(port), range(16)))
    assert len(pids) == 2, f"only worker(s) {sorted(pids)} answered\n{server.log()}"


def _health_pid(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/health")
        return int(json.loads(conn.getresponse().read())["pid"])
    finally:
        conn.close()
