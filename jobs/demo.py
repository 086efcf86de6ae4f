"""Demo job: toy hits, two calibration branches running concurrently, sums (no input needed)."""

from metflow.algorithms.demo import CalibrateHits, CombineSums, DemoSource, SumHits, SummarySink
from metflow.framework import Job, output_sink


def declare_flags(flags):
    flags.declare("demo.branches", int, 2, "independent calibrate+sum branches (intra-event parallelism)")
    flags.declare("demo.work", int, 1, "kernel repetitions per hit (CPU load per algorithm)")
    flags.declare("demo.mean_hits", int, 200, "mean number of hits per event")


def configure(flags):
    source = DemoSource(n_events=flags["input.events"], seed=flags["input.seed"],
                        mean_hits=flags["demo.mean_hits"])
    algorithms = []
    sums = []
    for b in range(flags["demo.branches"]):
        algorithms.append(CalibrateHits(name=f"Calibrate{b}", calibrated=f"CalibratedHits{b}",
                                        scale=1.0 + 0.01 * b, work=flags["demo.work"]))
        algorithms.append(SumHits(name=f"Sum{b}", hits=f"CalibratedHits{b}", total=f"HitSum{b}"))
        sums.append(f"HitSum{b}")
    algorithms.append(CombineSums(sums=sums))
    sinks = [SummarySink("TotalSum")]
    if flags["output.file"]:
        sinks.append(output_sink(flags["output.file"], ["TotalSum", *sums]))
    return Job(source=source, algorithms=algorithms, sinks=sinks, name="demo")


if __name__ == "__main__":
    from metflow.framework.cli import run_standalone

    run_standalone(__file__)
