"""The project's command-line convention, in one place.

A known problem (a bad file, a missing model, a dataset that is not where it should be) is printed
as one line, ``error: <message>``, on stderr with exit status 2, never as a traceback; Ctrl-C says
how to continue (status 130).
"""
from __future__ import annotations

import sys
from typing import Callable


def known_errors() -> tuple[type[BaseException], ...]:
    """The exceptions of ``common`` whose messages are written for users."""
    from common.audio import AudioError
    from common.bsseval import BSSEvalError
    from common.datasets import DatasetError

    return AudioError, DatasetError, BSSEvalError


def run_cli(action: Callable[[], int | None], errors: tuple[type[BaseException], ...] = (),
            on_interrupt: str | None = None) -> int:
    """Run ``action()`` and turn known errors into ``error: ...`` lines.

    errors: the caller's own exception types, added to :func:`known_errors`.
    on_interrupt: what to tell the user after Ctrl-C (e.g. how to resume).
    Returns the exit status: ``action``'s return value if it is an int, else 0; 2 on a known error;
    130 on Ctrl-C.
    """
    try:
        status = action()
    except (*known_errors(), *errors) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted{': ' + on_interrupt if on_interrupt else ''}", file=sys.stderr)
        return 130
    return status if isinstance(status, int) and not isinstance(status, bool) else 0
