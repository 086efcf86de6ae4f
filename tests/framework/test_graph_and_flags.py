import pytest

from metflow.framework import DataFlowGraph, Flags, GraphError
from metflow.framework.errors import FlagError
from toy import AddAll, AddConstant, Recorder


def test_missing_producer_names_algorithm_key_and_suggestion():
    algs = [AddConstant(name="First"), AddConstant(name="Second", source="Plsu", result="P2")]
    with pytest.raises(GraphError) as info:
        DataFlowGraph.build(algs, ["Numbers"])
    msg = str(info.value)
    assert "'Second'" in msg and "'Plsu'" in msg and "did you mean 'Plus'" in msg


def test_duplicate_producer():
    algs = [AddConstant(name="A"), AddConstant(name="B")]
    with pytest.raises(GraphError, match="'Plus' is produced by both algorithm 'A' and algorithm 'B'"):
        DataFlowGraph.build(algs, ["Numbers"])
    with pytest.raises(GraphError, match="produced by both the source and algorithm 'A'"):
        DataFlowGraph.build([AddConstant(name="A", result="Numbers")], ["Numbers"])


def test_cycle_and_duplicate_names():
    algs = [AddConstant(name="A", source="Y", result="X"), AddConstant(name="B", source="X", result="Y")]
    with pytest.raises(GraphError, match="cycle .*A.*B"):
        DataFlowGraph.build(algs, ["Numbers"])
    with pytest.raises(GraphError, match="two algorithms are named 'A'"):
        DataFlowGraph.build([AddConstant(name="A"), AddConstant(name="A", result="Q")], ["Numbers"])


def test_sink_key_must_be_produced():
    with pytest.raises(GraphError, match="sink 'recorder' writes key 'Plsu'.*did you mean 'Plus'"):
        DataFlowGraph.build([AddConstant()], ["Numbers"], [Recorder(["Plsu"])])


def test_order_and_renderings():
    algs = [AddAll(parts=["A", "B"]), AddConstant(name="MakeA", result="A"),
            AddConstant(name="MakeB", result="B", value=2)]
    graph = DataFlowGraph.build(algs, ["Numbers"])
    assert graph.order.index("AddAll") > graph.order.index("MakeA")
    assert "digraph" in graph.render("dot") and '"MakeA" -> "AddAll"' in graph.render("dot")
    assert graph.render("mermaid").startswith("flowchart LR")
    with pytest.raises(ValueError, match="did you mean 'dot'"):
        graph.render("dto")


def make_flags():
    flags = Flags()
    flags.declare("met.jet_selection", str, "Tight", "jet working point")
    flags.declare("met.max_eta", float, 4.5, "max |eta|")
    flags.declare("met.extra", list, [], "extra associators")
    return flags


def test_flags_typed_with_suggestions_and_locking():
    flags = make_flags()
    flags.set_from_string("met.jet_selection=Loose")
    flags.set_from_string("met.max_eta=2")
    flags.set_from_string("met.extra=['A', 'B']")
    assert flags["met.jet_selection"] == "Loose" and flags["met.max_eta"] == 2.0
    assert flags["met.extra"] == ["A", "B"]
    with pytest.raises(FlagError, match="did you mean 'met.jet_selection'"):
        flags.set_from_string("met.jet_selecton=Tight")
    with pytest.raises(FlagError, match="expects float"):
        flags.set_from_string("met.max_eta='x'")
    flags.lock()
    with pytest.raises(FlagError, match="locked"):
        flags.set("met.max_eta", 1.0)


@pytest.mark.parametrize("payload", [
    "__import__('os').system('true')",
    "open('/etc/passwd').read()",
    "[x for x in ().__class__.__bases__]",
    "lambda: 1",
])
def test_set_rejects_code(payload):
    flags = make_flags()
    for name in ("met.jet_selection", "met.extra"):
        with pytest.raises(FlagError, match="not a Python literal"):
            flags.set_from_string(f"{name}={payload}")
