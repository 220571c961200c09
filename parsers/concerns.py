"""A warning about what a unit sent, with the kind of problem it is.

The readers say what is wrong in Chinese, for the operator log, `status` and the digest; the
acknowledgment adds the advice for the kind of problem (`ProblemKind`). The reader that
finds a problem knows its kind, so it says it there, rather than anyone guessing it from
the words later.
"""

from __future__ import annotations

from store.model import ProblemKind


class Concern(str):
    """A warning's text, and its kind. It is a `str`, so that what only shows warnings, or
    keeps them, takes it as one."""

    kind: ProblemKind

    def __new__(cls, kind: ProblemKind, text: str) -> Concern:
        concern = super().__new__(cls, text)
        concern.kind = kind
        return concern

    def __reduce__(self) -> tuple[type[Concern], tuple[ProblemKind, str]]:
        return Concern, (self.kind, str(self))  # a worker process sends its readings back pickled
