"""Plugins: one broken plugin does not break `metflow list` (it is listed as broken), and a
plugin registered under a built-in algorithm's name is refused unless it declares the override."""

from __future__ import annotations

import pytest

from metflow.cli import available_algorithm_modules, main
from metflow.framework.errors import ConfigurationError
from metflow.framework.registry import find_algorithm

from reliability_helpers import assert_clean_error, job


def test_list_marks_a_broken_plugin_and_lists_the_rest(fake_plugins, capsys):
    assert main(["list"]) == 0
    out, err = capsys.readouterr()
    assert "Missing  [plugin badplug]  [BROKEN]" in out and "No module named 'badplug.nowhere'" in out
    assert "CalibrateHits  [plugin badplug]  [BROKEN]" in out      # takes a built-in name
    assert "CalibrateHits  [metflow.algorithms.demo]" in out        # the built-in stays
    assert "SumHits  [plugin badplug]" in out                       # declared override
    assert "BadInit  [plugin badplug]" in out and "METMakerAlg" in out
    assert "metflow: warning: plugin 'Missing' from distribution 'badplug' is broken" in err


def test_plugin_taking_a_builtin_name_is_refused(fake_plugins, capsys):
    with pytest.raises(ConfigurationError, match="overrides_builtin = True"):
        find_algorithm("CalibrateHits", available_algorithm_modules())
    assert main(["run", job("plugin_user"), "--set", "test.algorithm=CalibrateHits", "-q"]) == 2
    assert_clean_error(capsys.readouterr().err, "'badplug'", "built-in algorithm")


def test_plugin_declaring_the_override_replaces_the_builtin(fake_plugins, capsys):
    cls = find_algorithm("SumHits", available_algorithm_modules())
    assert cls.__module__ == "badplug" and cls.overrides_builtin
    assert main(["run", job("plugin_user"), "--set", "test.algorithm=SumHits", "-q"]) == 0
