"""Algorithm discovery: built-in modules plus plugins from the `metflow.algorithms` entry points.

A plugin package declares `[project.entry-points."metflow.algorithms"] Name = "pkg.mod:Class"`;
each entry point must load to an `Algorithm` subclass, checked when it loads, and a bad one is
reported with the distribution that declared it.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable
from importlib import metadata

from .component import Algorithm
from .errors import ConfigurationError, did_you_mean

ENTRY_POINT_GROUP = "metflow.algorithms"


def _entry_points() -> list[metadata.EntryPoint]:
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


def load_plugin(ep: metadata.EntryPoint) -> type[Algorithm]:
    dist = ep.dist.name if ep.dist is not None else "?"
    try:
        obj = ep.load()
    except Exception as exc:
        raise ConfigurationError(f"plugin {ep.name!r} from distribution {dist!r} "
                                 f"({ep.value}) failed to load: {exc}") from exc
    if not (inspect.isclass(obj) and issubclass(obj, Algorithm)):
        raise ConfigurationError(f"plugin {ep.name!r} from distribution {dist!r} ({ep.value}) "
                                 f"is not a metflow Algorithm subclass")
    return obj


def discover(builtin_modules: Iterable[str] = ()) -> dict[str, tuple[type[Algorithm], str]]:
    """name -> (class, origin) for every built-in and plugin algorithm."""
    found: dict[str, tuple[type[Algorithm], str]] = {}
    for module_name in builtin_modules:
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, Algorithm) and obj is not Algorithm
                    and obj.__module__ == module.__name__ and not name.startswith("_")):
                found[name] = (obj, module_name)
    for ep in _entry_points():
        cls = load_plugin(ep)
        origin = f"plugin {ep.dist.name if ep.dist else '?'}"
        found[ep.name] = (cls, origin)
    return found


def find_algorithm(name: str, builtin_modules: Iterable[str] = ()) -> type[Algorithm]:
    """An algorithm class by name (built-in or plugin), with "did you mean" when unknown."""
    for ep in _entry_points():
        if ep.name == name:
            return load_plugin(ep)
    found = discover(builtin_modules)
    if name not in found:
        raise ConfigurationError(f"no algorithm named {name!r}{did_you_mean(name, found)}; "
                                 f"installed plugins: {[ep.name for ep in _entry_points()]}")
    return found[name][0]
