"""The generator's expected failures: each says in one line what is wrong and what to do; the CLI prints just that."""

from __future__ import annotations


class RunbookError(Exception):
    """A failure the user can act on (a busy lock, an unwritable file, a CA that does not match its key)."""


class Reported(RunbookError):
    """A verb that ran and found what it reports a failure (drift, findings, a failed step, a refusal): the message is
    its whole report, printed as it is, and the verb exits non-zero."""
