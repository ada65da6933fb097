"""Maps the free-text reason of a dead letter onto one of a few fixed metric label values.

Reasons are written for people and carry ids and offsets; a label must come from a small set.
"""

from __future__ import annotations

INVALID_JSON = "invalid_json"
TOO_LARGE = "too_large"
VALIDATION = "validation"
WRONG_EVENT_TYPE = "wrong_event_type"
WRONG_KEY = "wrong_key"
CONFLICT = "conflict"
CONFLICTING_DUPLICATE = "conflicting_duplicate"
MODEL_ERROR = "model_error"
OTHER = "other"

REASON_CLASSES = (
    INVALID_JSON,
    TOO_LARGE,
    VALIDATION,
    WRONG_EVENT_TYPE,
    WRONG_KEY,
    CONFLICT,
    CONFLICTING_DUPLICATE,
    MODEL_ERROR,
    OTHER,
)
"""Every label value ``reason_class`` can return; counters start at zero for each."""

_RULES: tuple[tuple[str, str], ...] = (
    ("byte limit", TOO_LARGE),
    ("invalid json", INVALID_JSON),
    ("event_type: check", WRONG_EVENT_TYPE),
    ("earlier verdicts said", CONFLICT),
    ("conflicting duplicate", CONFLICTING_DUPLICATE),
    ("verdicts must be keyed by event_id", WRONG_KEY),
    ("sent a verdict without", VALIDATION),
)


def reason_class(reason: str) -> str:
    """The label for ``reason``: a known phrase wins, other readable field errors are validation.

    Validation reasons look like ``field.path: message`` (``describe_validation_error``), so
    anything else with a colon-separated location is counted as validation too.
    """
    text = reason.lower()
    if text.startswith("model error"):
        return MODEL_ERROR  # first: its text may quote the model's own validation error
    for phrase, label in _RULES:
        if phrase in text:
            return label
    if ": " in reason:
        return VALIDATION
    return OTHER
