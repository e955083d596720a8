"""Which block of the design each cell of a flat, synthesized netlist belongs to.

The synthesis and timing flows flatten the design before technology mapping (Yosys then
optimizes across block boundaries, as it would in a real build), so the mapped cells no
longer sit in the Amaranth submodules they came from. This module puts them back, cell by
cell, in the netlist Yosys wrote (``write_json``). A block is a scope: the tuple of
submodule names from the top, ``()`` for the top itself, ``("unit", "row0")`` for row 0 of
the matrix unit.

A cell's block is, by the first rule that applies:

1. its own scope attribute: ``hdlname`` (a cell that kept an Amaranth name),
   ``scopename`` (``flatten -scopename`` gives it to every object with an internal name)
   or :data:`TOP_ATTRIBUTE` (a cell of the top module itself); most flip-flops keep
   these through technology mapping;
2. the block of the Amaranth signal it drives: the deepest scope among the names of its
   output nets, input-port names excepted (an input port of a block is driven from outside
   it; the synthesis script marks them before flattening, :data:`MARK_COMMANDS`);
3. for a flip-flop or a memory cell, the deepest block whose path prefixes its name: Yosys
   names the RAM cells of memory ``a.b.mem`` ``a.b.mem.0.0``, and the registers it adds
   to a memory port after that memory;
4. for the rest (the LUTs and carry cells whose signals were optimized away, a few
   flip-flops), its neighbours. The block of what it reads is the common block of the
   decided cells it reads, directly or through undecided ones; the block of what it feeds
   likewise. It goes to the block of what it feeds when that lies inside the block of what
   it reads (logic that reads two blocks and feeds one is the next-state logic of that
   one), else to the block of what it reads (a block's output logic stays in the block even
   when another block reads it);
5. the top, for a cell with no decided neighbour.

Every cell gets exactly one block, so the blocks' figures add up to the flat netlist's.
"""

import re
from collections import defaultdict

__all__ = ["INPUT_PORT_ATTRIBUTE", "TOP_ATTRIBUTE", "MARK_COMMANDS", "rtlil_scopes",
           "netlist_module", "cell_blocks", "common_scope", "block_names", "net_bits"]

#: Attribute the synthesis scripts set on every module's input ports before flattening.
INPUT_PORT_ATTRIBUTE = "tritforge_input_port"
#: Attribute they set on the top module's own cells and wires (flattening names the others).
TOP_ATTRIBUTE = "tritforge_top"
#: The Yosys commands that set them, run on the hierarchical design before ``flatten``.
MARK_COMMANDS = (f"setattr -set {INPUT_PORT_ATTRIBUTE} 1 i:*",
                 f"setattr -set {TOP_ATTRIBUTE} 1 A:top")


_MODULE = re.compile(r"^module \\(\S+)$")
_INSTANCE = re.compile(r"^\s+cell \\(\S+) \\(\S+)$")


def rtlil_scopes(text, top):
    """Every block of the hierarchical RTLIL ``text`` under module ``top``, as scopes
    (``()`` for the top itself), from its submodule instances."""
    modules, instances, module = set(), defaultdict(list), None
    for line in text.splitlines():
        if match := _MODULE.match(line):
            module = match[1]
            modules.add(module)
        elif match := _INSTANCE.match(line):
            instances[module].append(match.groups())
    scopes, stack = set(), [((), top)]
    while stack:
        scope, module = stack.pop()
        scopes.add(scope)
        # Instances of modules defined in the text (not of library cells such as SB_PLL40_PAD).
        stack += [((*scope, name), child) for child, name in instances[module] if child in modules]
    return scopes


def netlist_module(netlist, top):
    """Module ``top`` of a Yosys ``write_json`` netlist (a dict)."""
    return netlist["modules"][top]


def _scope_of_name(hdlname):
    """Scope of an object from its ``hdlname`` (``"unit row0 sum"`` -> ``("unit", "row0")``)."""
    return tuple(hdlname.split(" ")[:-1])


def _own_scope(attributes):
    if "hdlname" in attributes:
        return _scope_of_name(attributes["hdlname"])
    if "scopename" in attributes:
        return tuple(attributes["scopename"].split(" "))
    if TOP_ATTRIBUTE in attributes:
        return ()
    return None


def common_scope(scopes):
    """The deepest scope that contains every one of ``scopes`` (their common prefix)."""
    scopes = list(scopes)
    common = scopes[0]
    for scope in scopes[1:]:
        length = 0
        while length < min(len(common), len(scope)) and common[length] == scope[length]:
            length += 1
        common = common[:length]
    return common


def net_bits(module):
    """``{bit: [(name, attributes), ...]}``: the named nets of each bit of ``module``."""
    names = defaultdict(list)
    for name, net in module["netnames"].items():
        for bit in net["bits"]:
            if isinstance(bit, int):
                names[bit].append((name, net["attributes"]))
    return names


def _outputs(cell):
    directions = cell.get("port_directions", {})
    return [bit for port, bits in cell["connections"].items() if directions.get(port) == "output"
            for bit in bits if isinstance(bit, int)]


def _inputs(cell):
    directions = cell.get("port_directions", {})
    return [bit for port, bits in cell["connections"].items() if directions.get(port) != "output"
            for bit in bits if isinstance(bit, int)]


def _driven_scope(bits, names):
    """Rule 2: the deepest scope among the non-input-port Amaranth names of ``bits``."""
    scopes = {_own_scope(attributes) for bit in bits for _, attributes in names[bit]
              if INPUT_PORT_ATTRIBUTE not in attributes} - {None}
    if not scopes:
        return None
    return max(sorted(scopes), key=len)


def _name_scope(name, scopes):
    """Rule 3: the deepest block whose dotted path prefixes a cell's name, or None."""
    parts = name.split(".")
    for length in range(len(parts) - 1, 0, -1):
        if tuple(parts[:length]) in scopes:
            return tuple(parts[:length])
    return None


def cell_blocks(module, scopes, is_state=lambda cell_type: False):
    """``{cell name: scope}`` for every cell of a flat netlist ``module`` (module docstring).

    Parameters
    ----------
    module : dict
        A module of a Yosys ``write_json`` netlist (:func:`netlist_module`).
    scopes : set of tuple
        The design's blocks (:func:`rtlil_scopes`).
    is_state : callable
        ``is_state(cell_type)``: whether a cell type is a flip-flop or a memory, the cells
        that rule 3 places by their name.
    """
    cells = module["cells"]
    names = net_bits(module)
    blocks = {}
    for name, cell in cells.items():
        scope = _own_scope(cell["attributes"])
        if scope is not None:
            blocks[name] = scope
    for name, cell in cells.items():
        if name in blocks:
            continue
        scope = _driven_scope(_outputs(cell), names)
        if scope is None and is_state(cell["type"]):
            scope = _name_scope(name, scopes)
        if scope is not None:
            blocks[name] = scope
    _blocks_from_neighbours(module, blocks)
    return blocks


def _readers(module):
    """``{cell: set of cells it drives}``; ``None`` stands for a top-level output port."""
    readers = defaultdict(set)
    for name, cell in module["cells"].items():
        for bit in _inputs(cell):
            readers[bit].add(name)
    for port in module["ports"].values():
        if port["direction"] != "input":
            for bit in port["bits"]:
                if isinstance(bit, int):
                    readers[bit].add(None)
    return {name: set().union(*[readers[bit] for bit in _outputs(cell)]) - {name}
            for name, cell in module["cells"].items()}


def _sources(module):
    """``{cell: set of cells that drive it}``. Top-level inputs (the clock, the reset, the
    ports) are no cell of any block and do not count."""
    driver = {bit: name for name, cell in module["cells"].items() for bit in _outputs(cell)}
    return {name: {driver[bit] for bit in _inputs(cell) if bit in driver} - {name}
            for name, cell in module["cells"].items()}


def _propagate(pending, neighbours, known):
    """Scope of each ``pending`` cell: the common scope of its ``neighbours`` (sinks or
    sources; ``None``, a top-level port, is the top), each resolved before the cells that
    depend on it. A loop of pending cells is broken at the cell with the most resolved
    neighbours."""
    pending = set(pending)
    result = {}

    def scope(other):
        return () if other is None else known.get(other, result.get(other))

    waiting = {name: sum(1 for other in neighbours[name] if other in pending) for name in pending}
    dependants = defaultdict(set)
    for name in pending:
        for other in neighbours[name]:
            if other in pending:
                dependants[other].add(name)
    ready = [name for name in pending if waiting[name] == 0]
    while pending:
        if not ready:
            ready = [max(sorted(pending), key=lambda name: len(neighbours[name] - pending))]
        name = ready.pop()
        if name not in pending:
            continue
        scopes = [scope(other) for other in neighbours[name] if other not in pending]
        result[name] = common_scope(scopes) if scopes else ()
        pending.discard(name)
        for dependant in dependants[name]:
            if dependant in pending:
                waiting[dependant] -= 1
                if waiting[dependant] == 0:
                    ready.append(dependant)
    return result


def _blocks_from_neighbours(module, blocks):
    """Rules 4 and 5, in place. The block of what a cell reads (through other undecided
    cells, back to decided ones) unless the block of what it feeds lies inside that one:
    a block's output logic belongs to it even if another block reads it; logic that reads
    two blocks and feeds one belongs to the one it feeds."""
    pending = [name for name in module["cells"] if name not in blocks]
    fed = _propagate(pending, _readers(module), blocks)
    read = _propagate(pending, _sources(module), blocks)
    for name in pending:
        sink, source = fed[name], read[name]
        blocks[name] = sink if len(sink) > len(source) and sink[:len(source)] == source else source


def block_names(scopes):
    """``{scope: dotted name}``; Amaranth's ``$<n>`` suffix (added to keep a submodule name
    unique) is dropped where its siblings leave the shorter name unique."""
    scopes = set(scopes)
    names = {(): ""}
    for scope in sorted(scopes, key=len):
        if not scope:
            continue
        base, _, number = scope[-1].rpartition("$")
        short = base if base and number.isdigit() else scope[-1]
        siblings = {other[-1] for other in scopes
                    if len(other) == len(scope) and other[:-1] == scope[:-1]}
        taken = any(other != scope[-1] and (other == short or other.rpartition("$")[0] == short)
                    for other in siblings)
        parent = names.get(scope[:-1], ".".join(scope[:-1]))
        leaf = scope[-1] if taken else short
        names[scope] = f"{parent}.{leaf}" if parent else leaf
    return names
