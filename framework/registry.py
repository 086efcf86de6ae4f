"""Algorithm discovery: built-in modules plus plugins from the `metflow.algorithms` entry points.

A plugin package declares `[project.entry-points."metflow.algorithms"] Name = "pkg.mod:Class"`;
each entry point must load to an `Algorithm` subclass, checked when it loads, and a bad one is
reported with the distribution that declared it. A plugin registered under the name of a
built-in algorithm is refused unless its class says `overrides_builtin = True`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata

from .component import Algorithm
from .errors import ConfigurationError, did_you_mean

ENTRY_POINT_GROUP = "metflow.algorithms"


@dataclass(frozen=True)
class BrokenPlugin:
    """An entry point that did not yield a usable algorithm, and why."""

    name: str
    distribution: str
    value: str
    error: str


def _entry_points() -> list[metadata.EntryPoint]:
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


def _dist(ep: metadata.EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else "?"


def load_plugin(ep: metadata.EntryPoint) -> type[Algorithm]:
    dist = _dist(ep)
    try:
        obj = ep.load()
    except Exception as exc:
        raise ConfigurationError(f"plugin {ep.name!r} from distribution {dist!r} "
                                 f"({ep.value}) failed to load: {type(exc).__name__}: "
                                 f"{exc}") from exc
    if not (inspect.isclass(obj) and issubclass(obj, Algorithm)):
        raise ConfigurationError(f"plugin {ep.name!r} from distribution {dist!r} ({ep.value}) "
                                 f"is not a metflow Algorithm subclass")
    return obj


def _check_override(ep: metadata.EntryPoint, cls: type[Algorithm], builtin: str) -> None:
    if not cls.overrides_builtin:
        raise ConfigurationError(
            f"plugin {ep.name!r} from distribution {_dist(ep)!r} ({ep.value}) registers the name "
            f"of the built-in algorithm from {builtin}: refused (a plugin meant to replace it "
            f"sets `overrides_builtin = True` on its class)")


def builtin_algorithms(builtin_modules: Iterable[str]) -> dict[str, tuple[type[Algorithm], str]]:
    """name -> (class, module) for the public Algorithm subclasses defined in the modules."""
    found: dict[str, tuple[type[Algorithm], str]] = {}
    for module_name in builtin_modules:
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, Algorithm) and obj is not Algorithm
                    and obj.__module__ == module.__name__ and not name.startswith("_")):
                found[name] = (obj, module_name)
    return found


def discover(builtin_modules: Iterable[str] = (),
             broken: list[BrokenPlugin] | None = None) -> dict[str, tuple[type[Algorithm], str]]:
    """name -> (class, origin) for every built-in and plugin algorithm. A plugin that fails to
    load (or takes a built-in name without saying so) raises, or, when a `broken` list is
    given, is appended to it and left out."""
    found = builtin_algorithms(builtin_modules)
    builtins = {name: module for name, (_, module) in found.items()}
    for ep in _entry_points():
        try:
            cls = load_plugin(ep)
            if ep.name in builtins:
                _check_override(ep, cls, builtins[ep.name])
        except ConfigurationError as exc:
            if broken is None:
                raise
            broken.append(BrokenPlugin(ep.name, _dist(ep), ep.value, str(exc)))
            continue
        found[ep.name] = (cls, f"plugin {_dist(ep)}")
    return found


def find_algorithm(name: str, builtin_modules: Iterable[str] = ()) -> type[Algorithm]:
    """An algorithm class by name (built-in or plugin), with "did you mean" when unknown."""
    builtins = builtin_algorithms(builtin_modules)
    for ep in _entry_points():
        if ep.name == name:
            cls = load_plugin(ep)
            if name in builtins:
                _check_override(ep, cls, builtins[name][1])
            return cls
    if name in builtins:
        return builtins[name][0]
    found = discover(builtin_modules, broken=[])
    raise ConfigurationError(f"no algorithm named {name!r}{did_you_mean(name, found)}; "
                             f"installed plugins: {[ep.name for ep in _entry_points()]}")


def plugin_origin(exc: BaseException) -> str:
    """' in Class.method of plugin distribution D' when the innermost frames of `exc`'s traceback are code
    of a distribution that declares metflow plugins (e.g. a plugin's __init__ raised), else ''."""
    owners: dict[str, str] = {}
    for ep in _entry_points():
        dist = _dist(ep)
        if dist != "metflow":
            owners.setdefault(ep.module.split(".")[0], dist)
    if not owners:
        return ""
    tb = exc.__traceback__
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        module = frame.f_globals.get("__name__", "") or ""
        owner = owners.get(module.split(".")[0])
        if owner is None:
            continue
        self = frame.f_locals.get("self")
        where = (f"{type(self).__name__}.{frame.f_code.co_name}" if self is not None
                 else f"{module}.{frame.f_code.co_name}")
        return f" in {where} of plugin distribution {owner!r}"
    return ""
