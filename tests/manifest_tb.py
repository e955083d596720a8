"""Plain-Verilog testbenches written from a generated design's manifest alone.

What a Verilog user with only ``tritforge generate``'s output would write: nothing here
imports tritforge; every number (port names and widths, field offsets, weight codes, the
packing of tiles and chunks, opcodes, header fields, status words) comes from the manifest
JSON. :func:`unit_bench` and :func:`top_bench` return the testbench's files; :func:`run` runs
it on Icarus Verilog; the ``decode_*`` functions read its output back. :func:`board_bench` drives the
board top over its UART pins with a frame of :func:`board_frame`; :func:`board_replies` cuts
what it sent back into reply frames.
"""

import subprocess

import numpy as np

__all__ = ["unit_bench", "decode_unit", "top_bench", "decode_top", "run", "crc16", "board_frame", "board_bench",
           "board_replies"]


def _ports(manifest):
    return {port["name"]: port for port in manifest["ports"]}


def _put(word, value, offset, width):
    return word | ((int(value) & ((1 << width) - 1)) << offset)


def _signed(value, width):
    return value - (1 << width) if value >> (width - 1) & 1 else value


def _instance(manifest):
    """Declarations of one reg/wire per port and the instance of the top, by port name."""
    lines = []
    for port in manifest["ports"]:
        if port["name"] in (manifest["clock"]["name"], manifest["reset"]["name"]):
            continue
        kind = "reg" if port["direction"] == "input" else "wire"
        lines.append(f"{kind} [{port['width'] - 1}:0] {port['name']};")
    connections = ", ".join(f".{p['name']}({p['name']})" for p in manifest["ports"])
    lines.append(f"{manifest['top']} dut ({connections});")
    return "\n".join(lines)


def _bench(manifest, body, hex_files):
    clock, reset = manifest["clock"]["name"], manifest["reset"]["name"]
    assert manifest["clock"]["edge"] == "rising" and manifest["reset"]["active"] == "high"
    text = (f"`timescale 1ns/1ps\nmodule tb;\nreg {clock} = 0;\nreg {reset} = 1;\n"
            f"always #5 {clock} = ~{clock};\ninteger cycle = 0;\n{_instance(manifest)}\n{body}\nendmodule\n")
    return {"tb.v": text, **hex_files}


def _hex(words, width):
    digits = -(-width // 4)
    return "".join(f"{word:0{digits}x}\n" for word in words)


# --- the matrix unit --------------------------------------------------------------------------

def unit_bench(manifest, products, seed=0):
    """Chunks of ``products`` (a list of ``(activations, weights)``: int arrays ``[K]`` and
    ``[rows, K]``) packed from the manifest, with ZERO-weight padding and random activations in
    the padding lanes; the bench offers them from the first reset cycle on, with
    backpressure on the results, and prints every result's payload."""
    rng = np.random.default_rng(seed)
    ports = _ports(manifest)
    fields = {field["name"]: field for field in ports["i__payload"]["fields"]}
    act, weights = fields["act"], fields["weights"]
    cols, act_width = act["length"], act["element"]["width"]
    rows, lane_width = weights["length"], weights["element"]["element"]["width"]
    codes = {code["weight"]: code["code"] for code in manifest["encodings"]["weight"]["codes"]}
    zero = manifest["encodings"]["weight"]["zero"]
    chunks = []
    for x, w in products:
        count = -(-len(x) // cols)
        for j in range(count):
            word = 0
            for c in range(cols):
                k = j * cols + c
                value = x[k] if k < len(x) else rng.integers(-(1 << act_width - 1), 1 << act_width - 1)
                word = _put(word, value, act["offset"] + c * act_width, act_width)
                for r in range(rows):
                    code = codes[int(w[r, k])] if k < len(x) else zero
                    word = _put(word, code, weights["offset"] + (r * cols + c) * lane_width, lane_width)
            word = _put(word, j == 0, fields["first"]["offset"], 1)
            word = _put(word, j == count - 1, fields["last"]["offset"], 1)
            chunks.append(word)
    width = ports["i__payload"]["width"]
    body = f"""
reg [{width - 1}:0] chunks [0:{len(chunks) - 1}];
integer next = 0, results = 0;
initial $readmemh("chunks.hex", chunks);
always @* begin
    i__valid = next < {len(chunks)};
    i__payload = chunks[next];
    o__ready = (cycle % 3) != 1;
end
always @(posedge clk) begin
    cycle <= cycle + 1;
    if (cycle == 3) rst <= 0;
    if (i__valid && i__ready) next <= next + 1;
    if (o__valid && o__ready) begin
        $display("RESULT %h", o__payload);
        results = results + 1;
        if (results == {len(products)}) $finish;
    end
    if (cycle > {20 * len(chunks) + 100}) begin $display("TIMEOUT"); $finish; end
end"""
    return _bench(manifest, body, {"chunks.hex": _hex(chunks, width)})


def decode_unit(manifest, output):
    """The ``[products, rows]`` results printed by :func:`unit_bench`'s bench."""
    fields = {field["name"]: field for field in _ports(manifest)["o__payload"]["fields"]}
    acc = fields["acc"]
    width = acc["element"]["width"]
    results = []
    for line in output.splitlines():
        if line.startswith("RESULT "):
            word = int(line.split()[1], 16)
            results.append([_signed(word >> (acc["offset"] + r * width) & ((1 << width) - 1), width)
                            for r in range(acc["length"])])
    return np.array(results, dtype=np.int64)


# --- the accelerator top ------------------------------------------------------------------------

def _header(protocol, opcode, weight_bank=0, act_bank=0):
    fields = {field["name"]: field for field in protocol["header"]}
    value = {op["name"]: op["value"] for op in protocol["opcodes"]}[opcode]
    return (value << fields["opcode"]["lsb"] | weight_bank << fields["weight_bank"]["lsb"]
            | act_bank << fields["act_bank"]["lsb"])


def _item_beats(value, item, width):
    return [(value >> (b * width)) & ((1 << width) - 1) for b in range(item["beats"])]


def _packets(manifest, x, w):
    """The commands of one layer ``Y = X . W^T`` from the manifest's protocol: LOAD_WEIGHTS,
    LOAD_ACTS, RUN, READ_RESULTS, READ_STATUS, each a list of beats."""
    p = manifest["protocol"]
    width = p["link"]["stream_width"]
    rows, cols = manifest["parameters"]["rows"], manifest["parameters"]["cols"]
    tile, chunk = p["items"]["tile"], p["items"]["chunk"]
    codes = {code["weight"]: code["code"] for code in p["weight_codes"]}
    (t_count, k), n = x.shape, w.shape[0]
    kc_count, nb_count = -(-k // cols), -(-n // rows)
    per_byte, base = tile["weights_per_byte"], tile["digit_base"]
    tiles = []
    for b in range(nb_count):
        for kc in range(kc_count):
            value, byte_index = 0, 0
            for r in range(rows):
                lane_codes = [codes[int(w[b * rows + r, kc * cols + c])]
                              if c < cols and b * rows + r < n and kc * cols + c < k else codes[0]
                              for c in range(tile["row_bytes"] * per_byte)]
                for j in range(tile["row_bytes"]):
                    byte = sum(lane_codes[per_byte * j + i] * base ** i for i in range(per_byte))
                    value |= byte << (8 * byte_index)
                    byte_index += 1
            tiles.append(value)
    chunks = []
    for t in range(t_count):
        for kc in range(kc_count):
            value = 0
            for c in range(cols):
                kk = kc * cols + c
                value = _put(value, x[t, kk] if kk < k else 0, c * chunk["lane_bits"], chunk["lane_bits"])
            chunks.append(value)
    return [
        [_header(p, "LOAD_WEIGHTS", weight_bank=1), len(tiles)]
        + [beat for value in tiles for beat in _item_beats(value, tile, width)],
        [_header(p, "LOAD_ACTS"), len(chunks)]
        + [beat for value in chunks for beat in _item_beats(value, chunk, width)],
        [_header(p, "RUN", weight_bank=1), t_count, k, n],
        [_header(p, "READ_RESULTS")],
        [_header(p, "READ_STATUS")],
    ]


def top_bench(manifest, x, w):
    """The commands of one layer as beats, offered from the first reset cycle on (the reset
    contract: nothing is taken before ``rst`` falls), responses read with backpressure and
    printed beat by beat."""
    width = manifest["protocol"]["link"]["stream_width"]
    beats, lasts = [], []
    for packet in _packets(manifest, x, w):
        beats += packet
        lasts += [0] * (len(packet) - 1) + [1]
    body = f"""
reg [{width - 1}:0] beats [0:{len(beats) - 1}];
reg lasts [0:{len(beats) - 1}];
integer next = 0, packets = 0;
initial begin $readmemh("beats.hex", beats); $readmemh("lasts.hex", lasts); end
always @* begin
    s_axis_tvalid = next < {len(beats)};
    s_axis_tdata = beats[next];
    s_axis_tlast = lasts[next];
    m_axis_tready = (cycle % 4) != 2;
end
always @(posedge clk) begin
    cycle <= cycle + 1;
    if (cycle == 3) rst <= 0;
    if (s_axis_tvalid && s_axis_tready) next <= next + 1;
    if (m_axis_tvalid && m_axis_tready) begin
        $display("BEAT %h %0d", m_axis_tdata, m_axis_tlast);
        if (m_axis_tlast) packets = packets + 1;
        if (packets == 2) $finish;
    end
    if (cycle > {20 * len(beats) + 2000}) begin $display("TIMEOUT"); $finish; end
end"""
    return _bench(manifest, body, {"beats.hex": _hex(beats, width), "lasts.hex": _hex(lasts, 1)})


def decode_top(manifest, output, tokens, n):
    """``(Y [tokens, n], status fields by name)`` from :func:`top_bench`'s output."""
    p = manifest["protocol"]
    width, word_bits = p["link"]["stream_width"], p["link"]["word_bits"]
    packets, current = [], []
    for line in output.splitlines():
        if line.startswith("BEAT "):
            _, data, last = line.split()
            current.append(int(data, 16))
            if last == "1":
                packets.append(current)
                current = []
    assert len(packets) == 2, output[-2000:]

    def words(beats):
        value = sum(beat << (i * width) for i, beat in enumerate(beats))
        return [value >> (i * word_bits) & ((1 << word_bits) - 1) for i in range(len(beats) * width // word_bits)]

    rows = manifest["parameters"]["rows"]
    group = p["results"]["group_beats"]
    y = np.zeros((tokens, -(-n // rows) * rows), dtype=np.int64)
    results = packets[0]
    assert len(results) == -(-n // rows) * tokens * group
    for index in range(len(results) // group):
        b, t = divmod(index, tokens)
        y[t, b * rows:(b + 1) * rows] = [_signed(v, word_bits) for v in words(results[index * group:(index + 1) * group])[:rows]]
    status_words = words(packets[1])
    status = {field["name"]: status_words[field["word"]] >> field["lsb"] & ((1 << (field["msb"] - field["lsb"] + 1)) - 1)
              for field in p["status"]["fields"] if field["words"] == 1}
    return y[:, :n], status


def run(files, sources, folder, iverilog="iverilog", vvp="vvp"):
    """Write ``files`` into ``folder``, compile them with ``sources`` on Icarus Verilog and
    run; the simulation's output."""
    for name, text in files.items():
        (folder / name).write_text(text)
    subprocess.run([iverilog, "-g2012", "-o", "tb.vvp", "-s", "tb", "tb.v", *map(str, sources)],
                   cwd=folder, check=True, capture_output=True, text=True)
    return subprocess.run([vvp, "-n", "tb.vvp"], cwd=folder, check=True, capture_output=True,
                          text=True).stdout


# --- the board top: the accelerator behind its UART link ----------------------------------------

def crc16(data, polynomial, initial):
    """The link's CRC (MSB first, no reflection, as ``manifest["link"]["crc"]`` says)."""
    crc = initial
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ polynomial) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def _put_bytes(buffer, layout, name, value):
    field = {f["name"]: f for f in layout}[name]
    buffer[field["offset"]:field["offset"] + field["bytes"]] = int(value).to_bytes(field["bytes"], "little")


def board_frame(manifest, packets, seq=0, start=True):
    """One command frame holding each packet (a list of beats) as a STREAM record with tlast,
    laid out from ``manifest["link"]``."""
    link = manifest["link"]
    size = link["sizes"]["bytes_per_beat"]
    stream = {kind["name"]: kind["value"] for kind in link["records"]["kinds"]}["STREAM"]
    payload = b""
    for packet in packets:
        header = bytearray(link["records"]["header_bytes"])
        _put_bytes(header, link["records"]["header"], "kind", stream)
        _put_bytes(header, link["records"]["header"], "arg", 1)
        _put_bytes(header, link["records"]["header"], "count", len(packet))
        payload += bytes(header) + b"".join(beat.to_bytes(size, "little") for beat in packet)
    assert len(payload) <= link["sizes"]["max_payload"]
    layout = {f["name"]: f for f in link["command_frame"]}
    frame = bytearray(layout["payload"]["offset"])
    _put_bytes(frame, link["command_frame"], "sync", link["host_sync"])
    flags = {flag["name"]: flag["bit"] for flag in link["flags"]}
    _put_bytes(frame, link["command_frame"], "flags", (1 << flags["START"]) if start else 0)
    _put_bytes(frame, link["command_frame"], "seq", seq)
    _put_bytes(frame, link["command_frame"], "length", len(payload))
    frame += payload
    crc = crc16(frame[1:], link["crc"]["polynomial"], link["crc"]["initial"])
    return bytes(frame) + crc.to_bytes(2, "big" if link["crc"]["byte_order"] == "big-endian" else "little")


def board_bench(manifest, frames):
    """Sends ``frames`` (a list of bytes) on ``rx`` at the manifest's baud divider after reset,
    each after ``tx`` has been idle for 40 byte times (the host waits for the replies), prints
    every byte received on ``tx`` (``BYTE hh``) and ``TX_LOW_IN_RESET`` if ``tx`` is low in a
    reset cycle; stops when ``tx`` has been idle for 40 byte times after the last frame."""
    uart = manifest["link"]["uart"]
    assert (uart["format"], uart["bit_order"], uart["idle"]) == ("8N1", "lsb-first", 1)
    d = uart["baud_divider"]
    byte_time = uart["bits_per_byte"] * d
    data = b"".join(frames)
    ends = [sum(len(frame) for frame in frames[:i + 1]) - 1 for i in range(len(frames))]
    is_end = bytes(int(n in ends) for n in range(len(data)))
    body = f"""
reg [7:0] frame [0:{len(data) - 1}];
reg ends [0:{len(data) - 1}];
reg [7:0] value;
integer n, i, received = 0, last_byte = 0;
initial begin $readmemh("frame.hex", frame); $readmemh("ends.hex", ends); end
task send(input [7:0] b);
    begin
        rx <= 0; repeat ({d}) @(posedge clk);
        for (i = 0; i < 8; i = i + 1) begin rx <= b[i]; repeat ({d}) @(posedge clk); end
        rx <= 1; repeat ({d}) @(posedge clk);
    end
endtask
always @(posedge clk) begin
    cycle <= cycle + 1;
    if (rst && cycle > 0 && tx !== 1'b1) $display("TX_LOW_IN_RESET");
end
initial begin
    rx = 1;
    repeat (4) @(posedge clk);
    rst <= 0;
    repeat ({3 * byte_time}) @(posedge clk);
    for (n = 0; n < {len(data)}; n = n + 1) begin
        send(frame[n]);
        if (ends[n]) begin
            last_byte = cycle;
            while (cycle - last_byte < {40 * byte_time}) @(posedge clk);
        end
    end
    $finish;
end
initial begin : receiver
    integer b;
    forever begin
        @(negedge tx);
        repeat ({d // 2}) @(posedge clk);
        for (b = 0; b < 8; b = b + 1) begin repeat ({d}) @(posedge clk); value[b] = tx; end
        repeat ({d}) @(posedge clk);
        $display("BYTE %h", value);
        received = received + 1;
        last_byte = cycle;
    end
end
initial begin #{10 * (len(data) + 400 * len(frames)) * byte_time * 10}; $display("TIMEOUT"); $finish; end"""
    return _bench(manifest, body, {"frame.hex": _hex(data, 8), "ends.hex": _hex(is_end, 1)})


def board_replies(manifest, output):
    """The reply frames (bytes each) in :func:`board_bench`'s output, cut at the lengths of
    ``manifest["link"]["replies"]`` by their kind byte."""
    link = manifest["link"]
    data = bytes(int(line.split()[1], 16) for line in output.splitlines() if line.startswith("BYTE "))
    lengths = {reply["value"]: reply["bytes"] for reply in link["replies"]}
    kind_at = {f["name"]: f["offset"] for f in link["reply_frame"]}["kind"]
    frames, at = [], 0
    while at < len(data):
        assert data[at] == link["board_sync"], data[at:].hex()
        size = lengths[data[at + kind_at]]
        frames.append(data[at:at + size])
        at += size
    return frames
