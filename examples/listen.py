"""Listen to every inbound message and answer it.

Credentials come from the environment (SPECTRUM_PROJECT_ID / SPECTRUM_PROJECT_SECRET, or the
variables `spectrum-sync emulator` prints). Ctrl-C stops it.

    python examples/listen.py [--count N] [--state sqlite:///listen.db]

With --state, a restart resumes after the last message handled.
"""

from __future__ import annotations

import argparse
import sys

import spectrum_sync as spectrum


def main() -> int:
    parser = argparse.ArgumentParser(description="Answer every inbound iMessage.")
    parser.add_argument("--count", type=int, default=0, help="stop after N messages (0: never)")
    parser.add_argument("--state", default=None, help="e.g. sqlite:///listen.db to resume")
    args = parser.parse_args()

    try:
        with spectrum.Client(state=args.state) as client:
            for n, msg in enumerate(client.messages(), 1):
                who = msg.sender.address if msg.sender else "?"
                print(f"[{msg.space.phone}] {who}: {msg.text}", flush=True)
                msg.reply(f"got it: {msg.text}")
                if n == args.count:
                    break
    except KeyboardInterrupt:
        return 130  # Ctrl-C is how this script is meant to stop: no traceback
    except spectrum.SpectrumError as exc:
        print(f"listen.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
