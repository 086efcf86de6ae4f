"""Analysts' MET: rebuild ATLAS MET from PHYSLITE in Python, for your own selection.

    from metflow.analysis import open_physlite, rebuild_met
    ev = open_physlite("PHYSLITE.root", entry_start=0, entry_stop=1000)
    met = rebuild_met(ev, electrons=(ev.electrons.pt > 25e3) & (abs(ev.electrons.eta) < 2.47),
                      muons=ev.muons.pt > 25e3)
    met.FinalTrk.met                    # awkward, one value per event [MeV]

Design: a chunk (:class:`PhysliteEvents`) is read by the same converter as the jobs'
``PhysliteSource`` (objects, the map ``METAssoc_AnalysisMET`` with the Run-2 member-wise
``jetLink`` decoded, the core ``MET_Core_AnalysisMET``); the analyst's choices arrive as
arrays (masks over every object, replacement kinematics) and become the same shallow copies
the job's selection algorithms make; :func:`rebuild_met` runs METMaker as ``physlite_met``
configures it. Hence, for the same selection, the MET equals the job's bit for bit
(:func:`default_selection` is physlite_met's). Nothing is global: a call owns its association
helper and MET builder, chunks are read-only, so threads can rebuild concurrently.

Chunks: :func:`open_physlite` (``entry_start``/``entry_stop``, as uproot), :func:`iterate_physlite`
(files in steps), :func:`from_coffea` (the chunk a coffea processor got, from
``events.metadata``; examples/coffea_met). Arrays a user read with ``uproot.iterate(...,
report=True)`` pair with ``open_physlite(report.file_path, report.tree_entry_start,
report.tree_entry_stop)``: masks built on them refer to the same objects. The map itself is
always read by metflow (its Run-2 ``jetLink`` is member-wise; its links need the file's
container keys). Files are named as ``--input`` names them (paths, directories, globs, file
lists, coffea filesets, URLs: :mod:`metflow.framework.input_specs`). Results carry the events'
identity (:data:`IDENTITY_FIELDS`: runNumber, eventNumber, mcChannelNumber, mcEventWeight) to
join them with other ntuples. Needs the ``physlite`` extra (uproot, awkward).
"""

from ._events import (IDENTITY_FIELDS, OBJECT_KINDS, PhysliteEvents, from_coffea,
                      iterate_physlite, open_physlite)
from ._rebuild import SOFT_TERMS, default_selection, rebuild_met

__all__ = ["PhysliteEvents", "open_physlite", "iterate_physlite", "from_coffea", "rebuild_met",
           "default_selection", "OBJECT_KINDS", "SOFT_TERMS", "IDENTITY_FIELDS"]
