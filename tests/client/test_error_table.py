"""docs/errors.md lists every code of the official ErrorCode list with the class the library
raises; this test keeps the table, the code and the official list in step."""

from __future__ import annotations

import re
from pathlib import Path

from spectrum_sync._wire.errors import ERROR_CODES

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"

# The official list (ErrorCode in @photon-ai/advanced-imessage 2.2.0), in its order.
OFFICIAL = """
unauthenticated tokenExpired tokenBlocked unauthorized dailyLimitExceeded
recipientLimitExceeded uploadRateExceeded contentDuplicateExceeded recipientCoolingDown
recipientLocked burstRateExceeded newContactThrottled sendReceiveRatioExceeded duplicateMessage
chatNotFound messageNotFound attachmentNotFound addressNotFound sharedFriendLocationNotFound
groupIconNotFound pollNotFound invalidArgument preconditionFailed operationNotSupported
attachmentNotReady privateApiUnavailable serviceUnavailable timeout internalError databaseError
networkError
""".split()  # noqa: SIM905 - the list reads as the official one does

# The backend turns these line-wide throttles into QuotaExceeded (a RateLimitError).
QUOTA_CODES = {"dailyLimitExceeded", "newContactThrottled"}


def _rows() -> dict[str, tuple[str, str | None]]:
    """code -> (class named in the table, scope named in the table)."""
    rows = {}
    for line in DOC.read_text().splitlines():
        match = re.match(r"\| `(\w+)` \| `(\w+)`(?: \(([^)]*)\))? \|", line)
        if match:
            scope = re.search(r'scope="(\w+)"', match.group(3) or "")
            rows[match.group(1)] = (match.group(2), scope.group(1) if scope else None)
    return rows


def test_the_official_list_has_31_codes_and_each_has_a_class() -> None:
    assert len(OFFICIAL) == len(set(OFFICIAL)) == 31
    assert set(ERROR_CODES) == set(OFFICIAL)


def test_the_table_lists_every_code_with_its_class_and_scope() -> None:
    rows = _rows()
    assert sorted(rows) == sorted(OFFICIAL)
    for code, info in ERROR_CODES.items():
        documented, scope = rows[code]
        expected = "QuotaExceeded" if code in QUOTA_CODES else info.error.__name__
        assert documented == expected, code
        assert scope == info.scope, code
