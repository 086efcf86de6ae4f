"""met_rebuild on an ATLAS-named PHYSLITE import (import-physlite's default) stops before event 1
with one line that gives the command to run, and that command's output runs in met_rebuild."""

from __future__ import annotations

import pytest

from analysis_files import FILES, require

HINT = "metflow import-physlite FILE --naming metflow -o out.parquet"


def test_atlas_named_import_gets_the_exact_command(tmp_path, capsys):
    from metflow.cli import main

    path = require(FILES["run3_rntuple"])
    atlas = tmp_path / "atlas.parquet"
    assert main(["import-physlite", str(path), "-n", "20", "-o", str(atlas)]) == 0
    capsys.readouterr()
    code = main(["run", "met_rebuild", "--input", str(atlas), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("metflow: error:"), err
    assert HINT in lines[0] and "METAssoc_AnalysisMET" in lines[0]

    renamed = tmp_path / "out.parquet"   # the hint, followed
    assert main(["import-physlite", str(path), "-n", "20", "--naming", "metflow",
                 "-o", str(renamed)]) == 0
    assert main(["run", "met_rebuild", "--input", str(renamed), "--quiet"]) == 0


def test_metflow_named_input_is_not_refused(tmp_path):
    """The check only fires on ATLAS keys: met_reco-style keys pass it."""
    pytest.importorskip("uproot")
    from metflow.framework.errors import ConfigurationError

    import importlib
    module = importlib.import_module("metflow.jobs.met_rebuild")
    flags = {"met.jet_collection": "AntiKt4EMPFlow", "input.files": ["x.parquet"]}
    module._refuse_atlas_named_import({"METAssoc_AntiKt4EMPFlow", "AntiKt4EMPFlowJets"}, flags)
    with pytest.raises(ConfigurationError, match="--naming metflow"):
        module._refuse_atlas_named_import({"METAssoc_AnalysisMET", "AnalysisJets"}, flags)
