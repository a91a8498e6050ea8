"""A client in a fresh interpreter that measures its own peak memory around one transfer.

Run by ``test_memory.py``: ``python rss_client.py upload PATH PEER`` or ``python
rss_client.py download TARGET PEER ATTACHMENT_GUID`` with the emulator's environment. It warms
up first (imports, channels, threads, a small transfer of each kind), then measures the rise
of its peak resident set during the big transfer, over its resident size just before.

The peak is the kernel's high-water mark of this process's memory (``VmHWM``), reset just
before the transfer (``/proc/self/clear_refs``). ``ru_maxrss`` cannot be used here: on exec
Linux carries the spawning process's peak into it (a pytest process that just held ten
thousand messages makes a fresh child "peak" at its size). Prints one JSON line.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import urllib.request

import spectrum_sync as spectrum


def _status(field: str) -> float:
    """A ``/proc/self/status`` size in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> float:
    """Reset the high-water mark to the current size; returns that size (MiB)."""
    gc.collect()
    time.sleep(0.2)  # let gRPC's own threads settle
    with open("/proc/self/clear_refs", "w") as control:
        control.write("5")
    return _status("VmRSS")


def _admin(route: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        f"{os.environ['SPECTRUM_CLOUD_URL']}/_emulator/{route}", method="POST",
        data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        result: dict[str, object] = json.loads(answer.read())
        return result


def main() -> None:
    mode, path, peer = sys.argv[1:4]
    out: dict[str, object] = {}
    with spectrum.Client(timeout=120) as client:
        dm = client.space.create(peer)
        # Warm up: the same code paths with a small file, so that only the size differs.
        small = dm.send_file(b"warm up " * 1000, name="warm.bin")
        small.attachments[0].read()
        if mode == "upload":
            before = _reset_peak()
            sent = dm.send_file(path)
            peak = _status("VmHWM")
            attachment = sent.attachments[0]
            out.update(guid=attachment.guid, size=attachment.size, name=attachment.file_name)
        else:
            with client.messages() as inbox:
                guid = _admin("inbound", {"from": peer, "line": dm.phone,
                                          "attachment": {"copy_of": sys.argv[4]}})["guid"]
                message = next(iter(inbox))
                attachment = message.attachments[0]
                out.update(guid=message.guid, expected=guid, size=attachment.size,
                           name=attachment.file_name,
                           sender=message.sender.address if message.sender else None)
                before = _reset_peak()
                out["written"] = attachment.download(path, timeout=120)
                peak = _status("VmHWM")
    out.update(growth_mib=peak - before, rss_before_mib=before)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
