"""``spectrum-sync lines``: the plan, its lines and today's quota usage per line."""

from __future__ import annotations

import argparse
import json

from spectrum_sync._cli.common import Session

HELP = ("Show the plan (shared or dedicated), each line (phone, instance id, gRPC address) "
        "and today's quota usage (UTC day). Usage is what the client's state store counted: "
        "pass your app's --state to see its counts.")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", metavar="URL",
                        help="state store holding the quota counters, e.g. "
                             "sqlite:///spectrum.db (default: memory, this command's own)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace, session: Session) -> int:
    session.configure_logging()
    with session.client(state=args.state) as client:
        lines = client.lines  # the first call exchanges the credentials
        usage = {info.phone: client.quota(info.phone) for info in lines}
        mode = client.mode
    if args.json:
        session.print(json.dumps({"plan": mode, "lines": [
            {"phone": info.phone, "instance_id": info.instance_id, "address": info.address,
             "tls": info.tls, "quota": {
                 "day": usage[info.phone].day,
                 "messages": usage[info.phone].messages,
                 "messages_limit": usage[info.phone].messages_limit,
                 "new_conversations": usage[info.phone].new_conversations,
                 "new_conversations_limit": usage[info.phone].new_conversations_limit,
                 "resets_at": usage[info.phone].resets_at.isoformat()}}
            for info in lines]}))
        return 0
    day = next(iter(usage.values())).day if usage else "today"
    counted = args.state or "memory (this command only)"
    session.print(f"plan: {mode}, {len(lines)} line(s); quota usage on {day} (UTC) as counted "
                  f"in {counted}")
    rows = [("PHONE", "INSTANCE", "ADDRESS", "TLS", "MESSAGES", "NEW CONVERSATIONS")]
    for info in lines:
        u = usage[info.phone]
        rows.append((info.phone, info.instance_id, info.address, "yes" if info.tls else "no",
                     f"{u.messages}/{_limit(u.messages_limit)}",
                     f"{u.new_conversations}/{_limit(u.new_conversations_limit)}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        session.print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


def _limit(limit: int | None) -> str:
    return "unlimited" if limit is None else str(limit)
