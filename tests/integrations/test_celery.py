"""The Celery recipe (examples/celery_app.py) for real: a prefork worker with two processes and
``--max-tasks-per-child``, a real Redis broker, the emulator counting messages; a task whose
answer is lost is retried by Celery and still sends one message."""

from __future__ import annotations

import gc
import signal
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from integ_helpers import ROOT, base_env, require_package, wait_until
from support.servers import Server, redis_server

from spectrum_sync.emulator import Emulator

EXAMPLES = ROOT / "examples"
TASK = "celery_app.send_text"
TASKS = 50


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    require_package("celery", "test")
    require_package("redis", "redis")
    with redis_server(tmp_path / "redis") as url:
        yield url


def start_worker(serve: Callable[..., Server], emu: Emulator, broker: str) -> Server:
    env = base_env(emu, CELERY_BROKER_URL=broker, CELERY_RESULT_BACKEND=broker,
                   SPECTRUM_RETRY_DELAY="0.3", SPECTRUM_SEND_TIMEOUT="5")
    env["PYTHONPATH"] = f"{EXAMPLES}:{env['PYTHONPATH']}"
    worker = serve([sys.executable, "-m", "celery", "-A", "celery_app", "worker",
                    "--pool=prefork", "--concurrency=2", "--max-tasks-per-child=20",
                    "--loglevel=INFO", "--without-gossip", "--without-mingle",
                    "--without-heartbeat", "-n", f"test-{uuid.uuid4().hex[:6]}@%h"],
                   env=env, cwd=EXAMPLES)
    assert wait_until(lambda: " ready." in worker.log(), 60), worker.log()
    return worker


def test_a_prefork_worker_sends_one_message_per_task_even_when_retried(
        make_emu: Callable[..., Emulator], serve: Callable[..., Server], broker: str) -> None:
    from celery import Celery

    emu = make_emu()
    worker = start_worker(serve, emu, broker)
    producer = Celery("producer", broker=broker, backend=broker)
    # A result object unsubscribes from Redis when it is garbage-collected: bounded retries,
    # and collected below while Redis still runs, so nothing reconnects after the test.
    producer.conf.result_backend_transport_options = {"retry_policy": {"max_retries": 1}}
    try:
        results = [producer.send_task(TASK, args=[f"+1555500{i % 5:04d}", f"order {i}"],
                                      kwargs={"key": f"order-{i}"}) for i in range(TASKS)]
        guids = [r.get(timeout=60) for r in results]
        del results
        assert len(set(guids)) == TASKS
        ours = [m for m in emu.messages() if m["is_from_me"]]
        assert sorted(m["text"] for m in ours) == sorted(f"order {i}" for i in range(TASKS))
        # Each recipient is always served by the same line (the key is remembered per line).
        lines = {m["chat"]: set() for m in ours}
        for m in ours:
            lines[m["chat"]].add(m["line"])
        assert all(len(found) == 1 for found in lines.values()), lines

        # The next send is carried out, but its answer is lost: the client cannot know, the
        # task is retried by Celery, and the repeated key gets the first message back.
        for key in ("order-lost-answer", None):
            emu.fail_next(1, code="UNAVAILABLE", retryable=False, method="SendTextMessage",
                          after=True)
            text = f"lost answer {key}"
            kwargs = {"key": key} if key else {}
            result = producer.send_task(TASK, args=["+15556660000", text], kwargs=kwargs)
            guid = result.get(timeout=60)
            del result
            [sent] = [m for m in emu.messages() if m["text"] == text]
            assert sent["guid"] == guid
            calls = [c for c in emu.requests if c.method == "SendTextMessage"
                     and c.request.text == text]  # type: ignore[attr-defined]
            assert len(calls) == 2, "the task was not retried"
            keys = {c.metadata.get("x-idempotency-key") for c in calls}
            assert len(keys) == 1 and None not in keys
        assert "Retry in" in worker.log()
    finally:
        gc.collect()
        producer.close()
    # A warm shutdown: children finish, their clients close, nothing crashes.
    worker.send_signal(signal.SIGTERM)
    worker.proc.wait(30)
    assert worker.proc.returncode == 0, worker.log()
    assert "Traceback" not in worker.log(), worker.log()
