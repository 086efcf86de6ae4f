"""JobConfig merge semantics: algorithms and summary sinks unique by name (equal copies dropped,
conflicting ones refused), one producer per key, output keys an ordered union."""

import pytest

from metflow.framework import ConfigurationError, Job, RunOptions, run_job
from metflow.framework.job_config import JobConfig
from toy import AddAll, AddConstant, CountingSource, Recorder


def _part(value=1, name="plus", outputs=("Plus",)):
    return JobConfig([AddConstant(name=name, value=value)], outputs=outputs,
                     summaries=[Recorder(["Plus"])])


def test_equal_components_merge_into_one_kept_at_its_first_place():
    first = _part()
    alg = first.algorithms[0]
    merged = first.merge(JobConfig([AddAll(name="sum", parts=["Plus", "Numbers"])],
                                   outputs=["Sum", "Plus"])).merge(_part())
    assert [a.name for a in merged.algorithms] == ["plus", "sum"]
    assert merged.algorithms[0] is alg
    assert merged.outputs == ["Plus", "Sum"]
    assert [s.name for s in merged.summaries] == ["recorder"]
    assert merged.produced_keys() == ["Plus", "Sum"]


def test_same_name_with_other_options_or_type_is_refused():
    with pytest.raises(ConfigurationError, match=r"algorithm 'plus' differ in options value: 1 != 2"):
        _part().merge(_part(value=2))
    with pytest.raises(ConfigurationError, match=r"algorithm 'plus' differ in types AddConstant "
                                                 r"and AddAll"):
        _part().merge(JobConfig([AddAll(name="plus")]))
    with pytest.raises(ConfigurationError, match=r"two summary sinks named 'recorder' differ"):
        _part().merge(JobConfig(summaries=[Recorder(["Sum"])]))


def test_one_producer_per_key():
    with pytest.raises(ConfigurationError, match=r"'Plus' is written by both 'plus' and 'other'"):
        _part().merge(_part(name="other"))


def test_bad_components_are_refused():
    with pytest.raises(ConfigurationError, match="is not an Algorithm"):
        JobConfig(["plus"])
    with pytest.raises(ConfigurationError, match="is not a Sink"):
        JobConfig(summaries=[object()])
    with pytest.raises(ConfigurationError, match="output key must be a non-empty string"):
        JobConfig(outputs=[""])
    with pytest.raises(ConfigurationError, match=r"no algorithm 'nope'.*\['plus'\]"):
        _part().algorithm("nope")


def test_a_merged_config_runs_as_one_job():
    cfg = _part(value=3).merge(JobConfig([AddAll(name="sum", parts=["Plus", "Numbers"])]))
    (recorder,) = cfg.summaries
    run_job(Job(source=CountingSource(6), algorithms=cfg.algorithms, sinks=cfg.summaries),
            RunOptions(quiet=True, progress=False, batch_size=4))
    assert recorder.values("Plus").tolist() == [3, 4, 5, 6, 7, 8]
