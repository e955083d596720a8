"""The Verilog tritforge hands out runs on plain simulators, without the project's runner:
a testbench written in Verilog alone resets the accelerator top, finds its ready and valid
outputs defined (not ``x``), and reads the status packet through the AXI4-Stream ports."""

import subprocess

import pytest

from tritforge.hdl.accelerator import Accelerator
from tritforge.hdl.verilog import convert
from tritforge.sim.simulators import activate, find_simulator
from tritforge.spec.params import AcceleratorParams
from tritforge.spec.protocol import WORD_BITS, Opcode

PARAMS = AcceleratorParams(rows=2, cols=4, max_k=16, weight_depth=4, act_depth=4, max_tokens=2,
                           stream_width=64)


def verilog_testbench(params):
    """Reset, check the outputs are defined, send READ_STATUS, count the response beats and
    check the first word (no error); prints PASS or FAIL lines."""
    beats = params.status_beats
    width = params.stream_width
    return f"""
`timescale 1ns/1ps
module tb;
  reg clk = 0, rst = 1;
  reg [{width - 1}:0] s_axis_tdata = 0;
  reg s_axis_tvalid = 0, s_axis_tlast = 0, m_axis_tready = 1;
  wire [{width - 1}:0] m_axis_tdata;
  wire s_axis_tready, m_axis_tvalid, m_axis_tlast;
  integer received = 0, first_word = -1;
  always #5 clk = ~clk;
  top dut(.clk(clk), .rst(rst), .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid),
          .s_axis_tready(s_axis_tready), .s_axis_tlast(s_axis_tlast),
          .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid),
          .m_axis_tready(m_axis_tready), .m_axis_tlast(m_axis_tlast));
  always @(posedge clk)
    if (m_axis_tvalid && m_axis_tready) begin
      if (received == 0) first_word = m_axis_tdata[{WORD_BITS - 1}:0];
      received = received + 1;
    end
  initial begin
    repeat (3) @(posedge clk);
    #1 rst = 0;
    @(posedge clk); #1;
    if (s_axis_tready !== 1'b1 || m_axis_tvalid !== 1'b0) begin
      $display("FAIL after reset: s_axis_tready=%b m_axis_tvalid=%b", s_axis_tready, m_axis_tvalid);
      $finish;
    end
    s_axis_tdata = {int(Opcode.READ_STATUS)}; s_axis_tvalid = 1; s_axis_tlast = 1;
    @(posedge clk); while (!s_axis_tready) @(posedge clk);
    #1 s_axis_tvalid = 0;
    repeat (100) @(posedge clk);
    if (received == {beats} && first_word == 0) $display("PASS");
    else $display("FAIL status: %0d beats (expected {beats}), word 0 = %0d", received, first_word);
    $finish;
  end
endmodule
"""


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plain")
    (folder / "top.v").write_text(convert(Accelerator(PARAMS), name="top"))
    (folder / "tb.v").write_text(verilog_testbench(PARAMS))
    return folder


def simulate(commands, folder):
    for command in commands:
        result = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.rtl
@pytest.mark.parametrize("language", ["-g2005-sv", "-g2012"])
def test_plain_icarus(sources, language):
    activate(find_simulator("icarus"))
    out = simulate([["iverilog", language, "-o", "sim.vvp", "tb.v", "top.v"], ["vvp", "-n", "sim.vvp"]],
                   sources)
    assert "PASS" in out, out


@pytest.mark.rtl
def test_plain_verilator(sources):
    verilator = activate(find_simulator("verilator"))
    out = simulate([[str(verilator.executable), "--binary", "--timing", "-CFLAGS", "-fcoroutines", "-Wno-fatal", "--top-module", "tb",
                     "-o", "sim", "tb.v", "top.v"], ["obj_dir/sim"]], sources)
    assert "PASS" in out, out
