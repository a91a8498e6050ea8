"""Two cheap paths of the performance budget, as ratios against a baseline measured in the same run.

- ``import spectrum_sync`` against importing grpc and protobuf alone (fresh interpreters,
  alternated; the emulator, CLI and local mode must stay out of the import).
- a cached ``client.user()`` (and an unresolved one) against a plain dict lookup and against
  a phonenumbers parse: it must be a dictionary hit, not a parse.

Usage: ``python bench/light_paths.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import timeit

from _harness import alternate, emulator_process, median, report


def import_seconds(statement: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    nothing, base, ours = alternate(
        args.runs,
        lambda: import_seconds("pass"),
        lambda: import_seconds("import grpc, google.protobuf.message"),
        lambda: import_seconds("import spectrum_sync"),
    )
    loaded = subprocess.run(
        [sys.executable, "-c",
         "import sys, spectrum_sync; print(sorted(m for m in sys.modules "
         "if m.startswith('spectrum_sync.emulator') or m == 'spectrum_sync.cli'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()

    import phonenumbers

    from spectrum_sync import Client

    raw = "+1 (555) 111-1111"
    table = {raw: object()}
    n = 100_000
    with emulator_process() as env, Client(env=env) as client:
        client.user(raw)  # resolved once (GetAddressInfo), then cached
        cached = timeit.timeit(lambda: client.user(raw), number=n) / n
        client.user(raw, resolve=False)
        unresolved = timeit.timeit(lambda: client.user(raw, resolve=False), number=n) / n
    lookup = timeit.timeit(lambda: table.get(raw), number=n) / n
    parse = timeit.timeit(lambda: phonenumbers.parse(raw, "US"), number=n // 10) / (n // 10)

    start = median(nothing)
    report("import and user-cache paths", [
        ("interpreter start", f"{start * 1e3:7.1f} ms"),
        ("+ grpc and protobuf", f"{(median(base) - start) * 1e3:7.1f} ms"),
        ("+ spectrum_sync", f"{(median(ours) - start) * 1e3:7.1f} ms"),
        ("import ratio", f"{(median(ours) - start) / (median(base) - start):7.3f}x"),
        ("emulator/cli modules loaded", loaded),
        ("cached client.user()", f"{cached * 1e9:7.0f} ns"),
        ("client.user(resolve=False)", f"{unresolved * 1e9:7.0f} ns"),
        ("dict.get", f"{lookup * 1e9:7.0f} ns"),
        ("phonenumbers.parse", f"{parse * 1e9:7.0f} ns"),
        ("cached user / parse", f"{cached / parse:7.3f}x"),
    ])


if __name__ == "__main__":
    main()
