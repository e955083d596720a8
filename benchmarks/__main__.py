"""Run all benchmarks, or the ones named: ``python -m benchmarks [name ...]``."""

import importlib
import pkgutil
import time

import click

import benchmarks


def available():
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if not m.name.startswith("_"))


@click.command()
@click.argument("names", nargs=-1)
def main(names):
    """Run every benchmark module's ``main`` with its defaults (or only NAMES)."""
    unknown = sorted(set(names) - set(available()))
    if unknown:
        raise click.UsageError(f"unknown benchmark {', '.join(unknown)}; available: {', '.join(available())}")
    for name in names or available():
        start = time.perf_counter()
        click.echo(f"== benchmark {name}")
        importlib.import_module(f"benchmarks.{name}").main.main(args=[], standalone_mode=False)
        click.echo(f"== {name} done in {time.perf_counter() - start:.1f} s\n")


if __name__ == "__main__":
    main()
