"""The AWS clients a deploy uses, and one place that turns botocore errors into streamjury ones.

A refused call (bad role, missing stream, no permission) is something the user fixes: ConfigError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from streamjury.errors import ConfigError, StreamError

T = TypeVar("T")
NOT_FOUND_CODES = ("ResourceNotFoundException", "NotFoundException", "404")


def is_not_found(exc: Any) -> bool:
    """Whether a botocore ClientError says the resource does not exist."""
    return bool(exc.response.get("Error", {}).get("Code") in NOT_FOUND_CODES)


def aws_call(what: str, call: Callable[[], T]) -> T:
    """``call()``, with botocore's errors re-raised as ConfigError (refused) or StreamError."""
    from botocore.exceptions import BotoCoreError, ClientError, WaiterError

    try:
        return call()
    except ClientError as exc:
        raise ConfigError(f"could not {what}: {exc}") from exc
    except WaiterError as exc:
        raise ConfigError(f"could not {what}: {exc}") from exc
    except BotoCoreError as exc:
        raise StreamError(f"could not {what}: {exc}") from exc
