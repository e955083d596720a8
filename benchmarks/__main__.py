"""Run all benchmarks, or the ones named: ``python -m benchmarks [name ...]``."""

import importlib
import pkgutil
import sys
import time

import benchmarks


def main(names):
    available = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if not m.name.startswith("_"))
    unknown = sorted(set(names) - set(available))
    if unknown:
        sys.exit(f"error: unknown benchmark {', '.join(unknown)}; available: {', '.join(available)}")
    for name in names or available:
        start = time.perf_counter()
        print(f"== benchmark {name}")
        importlib.import_module(f"benchmarks.{name}").main([])
        print(f"== {name} done in {time.perf_counter() - start:.1f} s\n")


if __name__ == "__main__":
    main(sys.argv[1:])
