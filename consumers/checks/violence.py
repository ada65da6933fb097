"""The violence check: probability that an upload shows graphic violence, from text and uploader.

Reads ``uploads``; ``score`` is a calibrated probability, ``label`` is ``flag`` from 0.5.
"""

from __future__ import annotations

from consumers.checks._text_flag import text_flag_spec

SPEC = text_flag_spec(
    check_name="violence",
    model_name="violence",
    description="Graphic-violence probability (TF-IDF + uploader history, logistic regression).",
)
