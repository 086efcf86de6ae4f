"""The input of the MET jobs: `--input` files (Parquet from metflow, or ATLAS PHYSLITE ROOT
files; directories, globs, lists, filesets and URLs are expanded to files before the job is
configured, `framework.input_specs`), or else the embedded synthetic source configured by the
`synthetic.*` flags."""

from __future__ import annotations

from metflow.framework import Source
from metflow.framework.errors import ConfigurationError

#: flags that configure only the synthetic source (meaningless, so refused, with --input)
SYNTHETIC_ONLY = ("synthetic.mu", "synthetic.process", "synthetic.lrt", "input.seed")


def declare_input_flags(flags) -> None:
    """Flags of the embedded synthetic source (used when no --input is given)."""
    flags.declare("synthetic.mu", float, 40.0, "pileup <mu> of the embedded synthetic source")
    flags.declare("synthetic.process", str, "mix",
                  "hard process of the synthetic source: zee, zmumu, znunu, wenu, wmunu, ttbar, "
                  "dijet, llp or mix")
    flags.declare("synthetic.lrt", bool, False,
                  "synthetic source also emits large-radius-tracking leptons (LRTElectrons, MuonsLRT)")


def open_input(flags) -> Source:
    """A source for the job: the --input files, or the synthetic source. Input files that cannot
    be read fail here, before the first event, with a SourceError naming the file."""
    files = flags["input.files"]
    if files:
        given = [name for name in SYNTHETIC_ONLY if name in flags and flags.is_set(name)]
        if given:
            shown = " ".join(files[:3]) + (f" ... ({len(files)} files)" if len(files) > 3 else "")
            raise ConfigurationError(f"--set {', '.join(given)}: configures the synthetic source, "
                                     f"which is not used with --input {shown}")
        from metflow.algorithms.physlite.source import input_source
        from metflow.edm.persistence import decode

        try:
            return input_source(files, decode=decode)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc
    from metflow.algorithms.generation.synthetic import SyntheticSource

    return SyntheticSource(seed=flags["input.seed"], process=flags["synthetic.process"],
                           mu=flags["synthetic.mu"], n_events=flags["input.events"],
                           lrt=flags["synthetic.lrt"])
