#!/usr/bin/env python3
"""Pickles written by Python's own pickle module (protocols 2 to 5) and hand-made hostile ones,
for NpyIO's symbolic pickle reader (Tests/NpyIOTests/PickleTests.swift). Each readable case has
the value as the Swift test renders it; each hostile case the error it must give.

    python3 scripts/gen_pickle_fixtures.py      # writes fixtures/pickle/cases.json
"""
import collections
import json
import os
import pickle
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "pickle", "cases.json")


def render(v):
    """The rendering PickleTests.swift gives the reader's value of `v`."""
    if v is None:
        return "None"
    if v is True or v is False:
        return "True" if v else "False"
    if isinstance(v, int):
        if -(1 << 63) <= v < (1 << 63):
            return str(v)
        return "long:" + pickle.encode_long(v).hex()
    if isinstance(v, float):
        return "f:" + struct.pack(">d", v).hex()
    if isinstance(v, str):
        return "s:" + v.encode("utf-8").hex()
    if isinstance(v, (bytes, bytearray)):
        return "b:" + bytes(v).hex()
    if isinstance(v, tuple):
        return "(" + ",".join(render(x) for x in v) + ")"
    if isinstance(v, list):
        return "[" + ",".join(render(x) for x in v) + "]"
    if isinstance(v, dict):  # OrderedDict too: the reader makes both a dict
        return "{" + ",".join(render(k) + ":" + render(x) for k, x in v.items()) + "}"
    if isinstance(v, (set, frozenset)):
        return "set{" + ",".join(render(x) for x in v) + "}"
    raise TypeError(type(v))


class Storage:
    """Stands for a torch storage: pickled by persistent id, as torch.save does."""
    def __init__(self, key):
        self.key = key


class WithPid(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", "FloatStorage", obj.key, "cpu", 4)
        return None


def main():
    values = {
        "scalars": [None, True, False, 0, 1, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31 - 1, 2 ** 31, 2 ** 63 - 1,
                    -(2 ** 63), 2 ** 64, -(2 ** 70) + 3, 0.0, -0.0, 1.5, 1e-300, float("inf"), float("-inf")],
        "strings": ["", "a", "é€😀", "x" * 300, b"", b"\x00\xff" * 200, bytearray(b"ab")],
        "containers": ((), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), [], [1, [2, [3]]], {}, {"a": 1, "b": [2, 3]},
                       {1: "x", (2, 3): None}, set(), {1, 2, 3}, frozenset([4])),
        "state_dict": collections.OrderedDict([("features.0.weight", [1.0, 2.0]), ("features.0.bias", (3,)),
                                               ("num_batches_tracked", 12345678901)]),
        "shared": None,  # filled below: one list memoised and referenced twice
        "many": list(range(3000)),
        "nested": {"meta": {"epoch": 3, "config": "a" * 70}, "state_dict": {"w": [0.5] * 5}},
    }
    shared = [1, 2]
    values["shared"] = (shared, shared, {"k": shared})
    cases = []
    for name, v in values.items():
        for proto in (2, 3, 4, 5):
            if proto < 3 and name == "strings":
                continue  # protocol 2 pickles bytes as _codecs.encode calls: a case of its own below
            data = pickle.dumps(v, protocol=proto)
            cases.append({"name": f"{name}_p{proto}", "hex": data.hex(), "expect": render(v)})
    # Protocol 2 bytes: GLOBAL _codecs.encode REDUCE, which the reader turns back into bytes.
    cases.append({"name": "bytes_p2", "hex": pickle.dumps(b"\x01\x80\xff", protocol=2).hex(), "expect": render(b"\x01\x80\xff")})
    # A persistent id (how torch.save refers to storages) inside an OrderedDict.
    import io
    buf = io.BytesIO()
    WithPid(buf, protocol=2).dump(collections.OrderedDict([("w", Storage("0"))]))
    cases.append({"name": "persistent_id", "hex": buf.getvalue().hex(),
                  "expect": "{s:" + "w".encode().hex() + ":pid((" + ",".join(render(x) for x in ("storage", "FloatStorage", "0", "cpu", 4)) + "))}"})
    # A call that is not interpreted stays a call: os.system("touch marker"), never run.
    evil = b"\x80\x02cos\nsystem\nX\x0c\x00\x00\x00touch marker\x85R."
    cases.append({"name": "os_system_is_inert", "hex": evil.hex(),
                  "expect": "call(g:os.system;s:" + b"touch marker".hex() + ")"})
    # BUILD on a call records the state.
    built = b"\x80\x02cmmengine.logging.history_buffer\nHistoryBuffer\n)\x81}X\x01\x00\x00\x00nK\x03sb."
    cases.append({"name": "build_on_call", "hex": built.hex(),
                  "expect": "call(g:mmengine.logging.history_buffer.HistoryBuffer|{s:" + b"n".hex() + ":3})"})
    hostile = [
        ("empty", b"", "truncated"),
        ("no_stop", b"\x80\x02K\x01", "truncated"),
        ("stop_empty", b"\x80\x02.", "STOP with 0 values"),
        ("stop_two", b"\x80\x02K\x01K\x02.", "STOP with 2 values"),
        ("pop_empty", b"\x80\x020", "empty stack"),
        ("pop_across_mark", b"\x80\x02K\x01(0.", "across a MARK"),
        ("append_to_tuple", b"\x80\x02)K\x01a.", "not a list"),
        ("setitem_on_list", b"\x80\x02]K\x01K\x02s.", "not a dict"),
        ("memo_missing", b"\x80\x02h\x07.", "never stored"),
        ("long_too_long", b"\x80\x02\x8a\xff\x01.", "truncated"),
        ("binunicode_claims_4gb", b"\x80\x02X\xff\xff\xff\xffabc.", "truncated"),
        ("bad_utf8", b"\x80\x02X\x02\x00\x00\x00\xc3\x28.", "UTF-8"),
        ("protocol_0_int", b"I1\n.", "INT"),
        ("inst", b"\x80\x02(ios\nsystem\n.", "INST"),
        ("persid_text", b"\x80\x02P0\n.", "PERSID"),
        ("ext1", b"\x80\x02\x82\x01.", "EXT1"),
        ("protocol_1_header", b"\x80\x01N.", "protocol 1"),
        ("unknown_opcode", b"\x80\x02\xff.", "unknown opcode"),
        ("odd_dict", b"\x80\x02(K\x01d.", "odd number"),
        ("global_no_newline", b"\x80\x02cos", "GLOBAL name"),
        ("build_on_int", b"\x80\x02K\x01}b.", "BUILD on a int"),
        ("reduce_non_tuple", b"\x80\x02cos\nsystem\nK\x01R.", "not a tuple"),
    ]
    bad = [{"name": n, "hex": h.hex(), "error": e} for n, h, e in hostile]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"generator": "scripts/gen_pickle_fixtures.py", "cases": cases, "hostile": bad}, f, indent=0)
    print(f"{OUT}: {len(cases)} cases, {len(bad)} hostile, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
