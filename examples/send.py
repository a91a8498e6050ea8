"""Send one iMessage (e.g. from a cron job).

Credentials come from the environment (SPECTRUM_PROJECT_ID / SPECTRUM_PROJECT_SECRET, or the
variables `spectrum-sync emulator` prints).

    python examples/send.py "+1 (555) 111-1111" "Your order has shipped"
"""

from __future__ import annotations

import sys

import spectrum_sync as spectrum


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: send.py ADDRESS TEXT", file=sys.stderr)
        return 2
    address, text = sys.argv[1], sys.argv[2]
    try:
        with spectrum.Client() as client:
            sent = client.space.create(client.user(address)).send(text)
    except spectrum.InvalidAddress as exc:
        print(f"not an address: {exc}", file=sys.stderr)
        return 2
    except spectrum.ConfigurationError as exc:
        print(f"not configured: {exc}", file=sys.stderr)
        return 2
    except spectrum.SpectrumError as exc:
        print(f"not sent: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"sent {sent.guid} to {sent.space.id} via {sent.space.phone}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
