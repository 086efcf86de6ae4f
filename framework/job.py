"""Jobs: what a job-option file's `configure(flags)` returns, and how job files are found."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from .component import Algorithm
from .errors import ConfigurationError, MetflowError, did_you_mean
from .io import Sink, Source

JOBS_PACKAGE = "metflow.jobs"


@dataclass
class Job:
    """A configured job: one source, algorithms in any order, sinks receiving blocks in order."""

    source: Source
    algorithms: Sequence[Algorithm] = field(default_factory=list)
    sinks: Sequence[Sink] = field(default_factory=list)
    name: str = "job"
    summary: Callable[[], str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.source, Source):
            raise ConfigurationError(f"job {self.name}: source must be a metflow Source, got "
                                     f"{type(self.source).__name__}")
        for alg in self.algorithms:
            if not isinstance(alg, Algorithm):
                raise ConfigurationError(f"job {self.name}: {alg!r} is not an Algorithm")
        self.algorithms = list(self.algorithms)
        self.sinks = list(self.sinks)


def builtin_jobs() -> list[str]:
    """Names of the job files shipped in metflow.jobs."""
    package = importlib.import_module(JOBS_PACKAGE)
    folder = os.path.dirname(package.__file__ or "")
    return sorted(f[:-3] for f in os.listdir(folder)
                  if f.endswith(".py") and not f.startswith("_"))


def load_job_module(spec: str) -> ModuleType:
    """A job module from a path (`jobs/x.py`) or a built-in job name (`x`)."""
    if spec.endswith(".py") or os.sep in spec:
        if not os.path.isfile(spec):
            raise ConfigurationError(f"job file {spec!r} does not exist")
        folder = os.path.dirname(os.path.abspath(spec))
        if folder not in sys.path:
            sys.path.append(folder)  # a job file may import helper modules that sit beside it
        name = "metflow_job_" + os.path.splitext(os.path.basename(spec))[0]
        module_spec = importlib.util.spec_from_file_location(name, spec)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except MetflowError:
            raise
        except Exception as exc:
            del sys.modules[name]
            raise ConfigurationError(f"job file {spec!r} cannot be loaded: "
                                     f"{type(exc).__name__}: {exc}") from exc
    else:
        names = builtin_jobs()
        if spec not in names:
            raise ConfigurationError(f"no built-in job {spec!r}{did_you_mean(spec, names)}; "
                                     f"built-in jobs: {names}")
        module = importlib.import_module(f"{JOBS_PACKAGE}.{spec}")
    if not hasattr(module, "configure"):
        raise ConfigurationError(f"job {spec!r} does not define configure(flags) -> Job")
    return module


def job_description(module: ModuleType) -> str:
    doc = (module.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


def make_job(module: ModuleType, flags: Any) -> Job:
    """`module.configure(flags)`; an unexpected exception (a bug in the job file, or a plugin
    whose constructor raises) becomes a ConfigurationError naming the job and the plugin."""
    try:
        job = module.configure(flags)
    except MetflowError:
        raise
    except Exception as exc:
        from .registry import plugin_origin

        raise ConfigurationError(f"job {getattr(module, '__name__', module)}: configure() failed"
                                 f"{plugin_origin(exc)}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(job, Job):
        raise ConfigurationError(f"{module.__name__}.configure() must return a Job, got "
                                 f"{type(job).__name__}")
    return job
