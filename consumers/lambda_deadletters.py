"""Dead letters that always fit the function's dead-letter sink (Kinesis 1 MiB, SQS 256 KiB).

A dead letter its sink refuses would be reported for retry, and no retry can deliver it: Lambda
would retry until the retries run out and then drop the record. So the kept original is cut to
fit, and the reason says how long it was and its sha256, so it can still be found and matched.
"""

from __future__ import annotations

import base64
import hashlib

from consumers.lambda_sinks import TargetKind
from streamjury.schemas import DeadLetter

SINK_RECORD_BYTES: dict[TargetKind, int] = {"kinesis": 1024 * 1024, "sqs": 256 * 1024}
"""The largest record each kind of sink takes (Kinesis: key plus data; SQS: the message)."""
HEADROOM_BYTES = 1024
"""Room for the SQS key attribute and JSON escaping the estimate does not see."""
MAX_REASON = 2_000


def fit_dead_letter(letter: DeadLetter, key: str, kind: TargetKind) -> DeadLetter:
    """``letter``, or a copy whose original is cut so the whole record fits a ``kind`` sink."""
    limit = SINK_RECORD_BYTES[kind] - HEADROOM_BYTES
    size = len(letter.to_bytes()) + len(key.encode())
    if size <= limit:
        return letter
    original = letter.original
    note = (
        f" [original {len(original)} bytes, sha256 {hashlib.sha256(original).hexdigest()}, "
        f"cut to fit the {kind} dead-letter sink]"
    )
    reason = letter.reason[: MAX_REASON - len(note)] + note
    overhead = size - len(letter.original_b64) + len(reason) - len(letter.reason)
    keep = max(0, (limit - overhead) // 4 * 3)
    return letter.model_copy(
        update={
            "original_b64": base64.b64encode(original[:keep]).decode("ascii"),
            "original_truncated": True,
            "reason": reason,
        }
    )
