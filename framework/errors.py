"""Framework exceptions: each names the component, key and events it concerns."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_matches(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Candidates ranked by similarity to `word` (best first)."""
    return difflib.get_close_matches(word, list(candidates), n=n, cutoff=0.5)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ' (did you mean 'x'?)' suffix, or '' when nothing is close."""
    matches = close_matches(word, candidates)
    if not matches:
        return ""
    return " (did you mean " + " or ".join(repr(m) for m in matches) + "?)"


class MetflowError(Exception):
    """Base class of every framework error."""


class ConfigurationError(MetflowError):
    """A job, algorithm or flag is configured wrongly (unknown option, bad type, locked flag)."""


class GraphError(ConfigurationError):
    """The data-flow graph is invalid: missing or duplicate producer, cycle."""


class MissingKeyError(KeyError, MetflowError):
    """A key is absent from an event store; lists the closest existing keys."""

    def __init__(self, key: str, requester: str, available: Iterable[str], events: str = ""):
        self.key = key
        self.requester = requester
        self.available = sorted(available)
        self.suggestions = close_matches(key, self.available)
        self.events = events
        super().__init__(key)

    def __str__(self) -> str:
        msg = f"key {self.key!r} is not in the event store (requested by {self.requester}"
        msg += f", events {self.events})" if self.events else ")"
        if self.suggestions:
            msg += "; closest keys: " + ", ".join(repr(s) for s in self.suggestions)
        elif self.available:
            msg += "; available: " + ", ".join(repr(s) for s in self.available[:20])
        return msg


class UndeclaredAccessError(MetflowError):
    """An algorithm read or recorded a key it did not declare."""


class DuplicateKeyError(MetflowError):
    """A key was recorded twice in one event store (the store is write-once)."""


class AlgorithmError(MetflowError):
    """An algorithm failed; carries its name, type, event range and input, chained to the cause."""

    def __init__(self, message: str, *, algorithm: str = "", events: tuple[int, int] | None = None,
                 source: str = ""):
        super().__init__(message)
        self.algorithm = algorithm
        self.events = events
        self.source = source


class SourceError(MetflowError):
    """An input source failed to provide a block (names the source/file, key and events)."""

    #: absolute index of the event at fault, when one is known
    event: int | None = None


class SinkError(MetflowError):
    """An output sink failed (names the sink/file and key)."""


class FlagError(ConfigurationError):
    """A job flag is unknown, locked, or given a value of the wrong type."""


class JobFailedError(MetflowError):
    """The job finished but some events failed (on-error=skip)."""
