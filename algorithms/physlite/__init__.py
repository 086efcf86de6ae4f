"""Reading ATLAS PHYSLITE files (uproot) into the metflow EDM.

Both PHYSLITE storage formats are read: the Run-2 TTree ``CollectionTree`` and the Run-3
RNTuple ``EventData``. uproot and awkward are the optional ``physlite`` extra
(``pip install "metflow[physlite]"``); they are imported only when a file is opened.

- :class:`PhysliteSource`: framework Source (``--input FILE.root``), one or more files;
  :func:`input_source` picks it or the Parquet source for a job's ``--input`` paths.
- :class:`PhysliteFile`: format-independent access to branches / fields.
- :func:`sg_key`: the StoreGate hash behind ElementLink persistent keys.
- :func:`atlas_met_bytes` / :func:`metflow_met_bytes`: MET map + core bytes per event.
- ``metflow import-physlite``: :mod:`.cli`.
"""

from .errors import (CorruptFileError, MissingBranchError, NotPhysliteError, PhysliteError,
                     UnknownLinkKeyError)
from .naming import ATLAS_NAMING, METFLOW_NAMING, PhysliteNaming, naming_for
from .reader import PhysliteFile
from .sgkey import CLIDS, LinkKeyResolver, crc64, sg_key
from .sizes import MetSize, atlas_met_bytes, metflow_met_bytes
from .source import PhysliteSource, input_source, is_root_file, read_physlite_block

__all__ = [
    "PhysliteSource", "PhysliteFile", "read_physlite_block", "input_source", "is_root_file",
    "PhysliteNaming", "ATLAS_NAMING", "METFLOW_NAMING", "naming_for",
    "sg_key", "crc64", "CLIDS", "LinkKeyResolver",
    "MetSize", "atlas_met_bytes", "metflow_met_bytes",
    "PhysliteError", "NotPhysliteError", "CorruptFileError", "MissingBranchError",
    "UnknownLinkKeyError",
]
