"""The `--output` of the MET jobs: Parquet (every key) or a flat ROOT TTree (MET terms and
per-event records), chosen by the extension (`metflow.framework.output`).

ROOT branches: one per MET term component, `<MET key>_<term>_<mpx|mpy|sumet>` (e.g.
`MET_AntiKt4EMPFlow_FinalTrk_mpx`), one per field of the other per-event records
(`TruthMET_nonint_mpx`, `METSignificance_AntiKt4EMPFlow_sqrt_s`), and the event identity under
the ATLAS EventInfo names analysts join on (`runNumber`, `eventNumber`, `mcChannelNumber`,
`mcEventWeight`, `actualInteractionsPerCrossing`). Object containers and association maps
(a variable number of objects per event, links into other containers) have no flat form: a
`.root` output of one is refused before the run, pointing to Parquet.
"""

from __future__ import annotations

from collections.abc import Sequence

from metflow.edm import keys as K
from metflow.edm.errors import UnknownKeyError
from metflow.framework import Sink, output_sink

#: generated branch name (KEY_FIELD) -> ATLAS EventInfo name
ROOT_BRANCH_NAMES = {
    f"{K.EVENT_INFO}_run_number": "runNumber",
    f"{K.EVENT_INFO}_event_number": "eventNumber",
    f"{K.EVENT_INFO}_mc_channel_number": "mcChannelNumber",
    f"{K.EVENT_INFO}_weight": "mcEventWeight",
    f"{K.EVENT_INFO}_mu": "actualInteractionsPerCrossing",
}


def flat_refusal(key: str) -> str | None:
    """Why `key` cannot be written as flat ROOT branches, None when it can (MET containers and
    per-event records; a key of no known kind is left to the sink, which checks the values)."""
    from metflow.edm.persistence import kind_of_key

    try:
        kind = kind_of_key(key)
    except UnknownKeyError:
        return None
    if kind == "map":
        return "MET association maps"
    if kind == "container":
        return "object containers (a variable number of objects per event)"
    return None


def met_output_sink(path: str, keys: Sequence[str], **parquet_options) -> Sink:
    """The sink of a MET job's `--output`: Parquet or flat ROOT by the extension (see the module
    docstring); `parquet_options` go to the ParquetSink."""
    return output_sink(path, keys, branch_names=ROOT_BRANCH_NAMES, refuse_flat=flat_refusal,
                       flat_hint="it holds MET terms and per-event records", **parquet_options)


def with_event_info(keys: Sequence[str], available) -> list[str]:
    """`keys` with the event identity (EventInfo) first, when the job has it and it is not
    already there: every MET output can be joined with the analyst's other files."""
    keys = list(keys)
    if K.EVENT_INFO in keys or K.EVENT_INFO not in set(available):
        return keys
    return [K.EVENT_INFO, *keys]
