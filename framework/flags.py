"""Job flags: typed, documented, locked before the run, with "did you mean" on typos.

Overrides come from the command line as `--set name=value`; values are parsed with
`ast.literal_eval` (never `eval`). A flag of type str also accepts a bare word such as
`Tight`; anything else that is not a Python literal is refused.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from .errors import FlagError, did_you_mean

_BARE_WORD = re.compile(r"^[A-Za-z0-9_.:/+\-]+$")


def parse_value(name: str, text: str, allow_bare_word: bool) -> Any:
    """A Python literal (never evaluated code); a bare word where a string is expected."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        if allow_bare_word and _BARE_WORD.match(text):
            return text
        raise FlagError(f"--set {name}: {text!r} is not a Python literal (numbers, strings, "
                        f"lists, tuples, dicts, True/False/None)") from None


def split_assignment(assignment: str) -> tuple[str, str]:
    """`name=value` -> (name, value text)."""
    if "=" not in assignment:
        raise FlagError(f"--set expects name=value, got {assignment!r}")
    name, text = (part.strip() for part in assignment.split("=", 1))
    return name, text


@dataclass
class Flag:
    name: str
    type: type | tuple[type, ...]
    default: Any
    doc: str
    value: Any = None


class Flags:
    """A typed set of named flags; `flags["met.jet_selection"]` reads one."""

    def __init__(self) -> None:
        self._flags: dict[str, Flag] = {}
        self._locked = False
        self._set: set[str] = set()

    def declare(self, name: str, type: type | tuple[type, ...], default: Any, doc: str) -> None:
        if self._locked:
            raise FlagError(f"cannot declare flag {name!r}: flags are locked")
        if name in self._flags:
            raise FlagError(f"flag {name!r} is declared twice")
        flag = Flag(name, type, default, doc)
        flag.value = self._convert(flag, default)
        self._flags[name] = flag

    def _flag(self, name: str) -> Flag:
        try:
            return self._flags[name]
        except KeyError:
            raise FlagError(f"unknown flag {name!r}{did_you_mean(name, self._flags)}") from None

    @staticmethod
    def _convert(flag: Flag, value: Any) -> Any:
        types = flag.type if isinstance(flag.type, tuple) else (flag.type,)
        if float in types and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if (list in types or tuple in types) and isinstance(value, (list, tuple)):
            value = list(value) if list in types else tuple(value)
        if value is None and flag.default is None:
            return None
        if not isinstance(value, types):
            names = "/".join(t.__name__ for t in types)
            raise FlagError(f"flag {flag.name!r} expects {names}, got {type(value).__name__} "
                            f"{value!r}")
        return value

    def set(self, name: str, value: Any) -> None:
        if self._locked:
            raise FlagError(f"cannot set flag {name!r}: flags are locked once the job is "
                            f"configured")
        flag = self._flag(name)
        flag.value = self._convert(flag, value)
        self._set.add(name)

    def is_set(self, name: str) -> bool:
        """True when the flag was given a value (command line or job), not left at its default."""
        self._flag(name)
        return name in self._set

    def set_from_string(self, assignment: str) -> None:
        """Apply `name=value` (value a Python literal, or a bare word for str flags)."""
        name, text = split_assignment(assignment)
        flag = self._flag(name)
        wants_str = flag.type is str or (isinstance(flag.type, tuple) and str in flag.type)
        self.set(name, parse_value(name, text, wants_str))

    def namespaces(self) -> set[str]:
        """First components of the flag names ("met" for "met.jet_selection")."""
        return {name.split(".", 1)[0] for name in self._flags}

    def lock(self) -> None:
        self._locked = True

    @property
    def locked(self) -> bool:
        return self._locked

    def __getitem__(self, name: str) -> Any:
        return self._flag(name).value

    def get(self, name: str) -> Any:
        return self[name]

    def __contains__(self, name: str) -> bool:
        return name in self._flags

    def items(self) -> list[tuple[str, Any]]:
        return [(n, f.value) for n, f in self._flags.items()]

    def describe(self) -> str:
        lines = []
        for flag in self._flags.values():
            tname = (flag.type.__name__ if isinstance(flag.type, type)
                     else "/".join(t.__name__ for t in flag.type))
            lines.append(f"  {flag.name} = {flag.value!r} ({tname})  # {flag.doc}")
        return "\n".join(lines)


def standard_flags() -> Flags:
    """Flags every job sees: input files, output file and the random seed of generators."""
    flags = Flags()
    flags.declare("input.files", list, [], "input files (from --input); empty: the job's default source")
    flags.declare("output.file", str, "", "output file (from --output); empty: the job's default")
    flags.declare("input.seed", int, 1, "seed of an embedded generator source")
    flags.declare("input.events", int, 1000, "events an embedded generator provides when --events is not given")
    return flags
