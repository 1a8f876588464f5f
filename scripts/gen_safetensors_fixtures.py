#!/usr/bin/env python3
"""Safetensors fixtures for NpyIO's reader (Tests/NpyIOTests/SafetensorsTests.swift), and
bfloat16 PyTorch checkpoints, with the values torch reads back. Run with the reference python
(shared/oracle/oracle-setup: torch, safetensors, numpy):

    /tmp/oracle/venv/bin/python scripts/gen_safetensors_fixtures.py

Writes fixtures/safetensors/*.safetensors + expected.json, and fixtures/torch/bf16_zip.pth,
bf16_legacy.pth + bf16_expected.json. Files written by the safetensors library itself, one
written by hand that the library accepts (keys out of order, unaligned data, odd header
length, escapes in names), and hostile files, each of which NpyIO must refuse with its own
message; what the library says about each is recorded too ("library").
"""
import json
import os
import struct
import sys

import torch
import safetensors.torch

sys.path.insert(0, "/work/shared/oracle")
import nets  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "fixtures", "safetensors")
TORCH_OUT = os.path.join(ROOT, "fixtures", "torch")


def floats(t):
    """Values as Python's repr of float64 ('nan', 'inf', '-0.0' kept)."""
    return [repr(float(v)) for v in t.flatten().tolist()]


def describe(t):
    return {"torch_dtype": str(t.dtype), "shape": list(t.shape),
            "f64": floats(t.double()), "f32": floats(t.float().double()),
            "nonfinite": int((~torch.isfinite(t.double())).sum())}


def header_of(path):
    with open(path, "rb") as f:
        b = f.read()
    n = int.from_bytes(b[:8], "little")
    return json.loads(b[8:8 + n].decode("utf-8"))


def expect_file(path):
    """What torch reads from a safetensors file, in the header's key order."""
    header = header_of(path)
    loaded = safetensors.torch.load_file(path)
    tensors = {}
    order = [k for k in header if k != "__metadata__"]
    for k in order:
        d = describe(loaded[k])
        d["st_dtype"] = header[k]["dtype"]
        tensors[k] = d
    metadata = header.get("__metadata__")
    return {"order": order, "metadata": metadata, "metadata_order": list(metadata or {}), "tensors": tensors}


def raw(header, data=b"", pad_to=8, n=None, extra=b""):
    """A file written by hand: header (a str of JSON, or a dict) + data. pad_to pads the
    header with spaces to that multiple (1: no padding); n overrides the length field."""
    if isinstance(header, bytes):
        text = header
    elif isinstance(header, str):
        text = header.encode("utf-8")
    else:
        text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    if pad_to > 1:
        text += b" " * (-len(text) % pad_to)
    length = len(text) if n is None else n
    return struct.pack("<Q", length) + text + data + extra


def library_verdict(blob):
    try:
        loaded = safetensors.torch.load(blob)
        return "accepted: " + ", ".join(f"{k} {tuple(v.shape)} {v.dtype}" for k, v in loaded.items())
    except Exception as e:  # noqa: BLE001 (the library raises several types)
        return f"refused: {type(e).__name__}: {e}"


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {"files": {}, "hostile": {}}

    # Every supported dtype, written by the library (through the oracle's writer).
    nan, inf = float("nan"), float("inf")
    sd = {
        "bool": torch.tensor([True, False, True]),
        "u8": torch.tensor([0, 1, 255], dtype=torch.uint8),
        "i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "i16": torch.tensor([-32768, -1, 32767], dtype=torch.int16),
        "u16": torch.tensor([0, 1, 65535], dtype=torch.uint16),
        "i32": torch.tensor([-2**31, 0, 2**31 - 1], dtype=torch.int32),
        "u32": torch.tensor([0, 1, 2**32 - 1], dtype=torch.uint32),
        "i64": torch.tensor([-2**63, 0, 2**63 - 1, 2**53 + 1], dtype=torch.int64),
        "u64": torch.tensor([0, 1, 2**64 - 1, 2**53 + 1], dtype=torch.uint64),
        "f16": torch.tensor([[0.0, -0.0, 1.0, 65504.0], [6e-8, inf, -inf, nan]], dtype=torch.float16),
        "bf16": torch.tensor([1.0, -2.5, 3.3895e38, 1e-40, inf, -inf, nan, 0.1], dtype=torch.bfloat16).reshape(2, 2, 2),
        "f32": torch.tensor([[1.5, -0.0, 3.4028235e38], [1e-45, nan, -inf]], dtype=torch.float32),
        "f64": torch.tensor([0.1, -1e308, 5e-324, inf], dtype=torch.float64),
    }
    path = os.path.join(OUT, "dtypes.safetensors")
    nets.save_state_dict(path, sd, "safetensors")
    expected["files"]["dtypes.safetensors"] = expect_file(path)

    # Rank 0, empty tensors (two at one offset), metadata of several entries.
    sd = {
        "scalar": torch.tensor(2.5, dtype=torch.float32),
        "scalar_bf16": torch.tensor(-3.0, dtype=torch.bfloat16),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
        "empty_i64": torch.zeros(4, 0, dtype=torch.int64),
        "weight": torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4,
    }
    path = os.path.join(OUT, "scalar_empty.safetensors")
    safetensors.torch.save_file(sd, path, metadata={"format": "pt", "note": "rank 0 and empty", "ünï": "çødé"})
    expected["files"]["scalar_empty.safetensors"] = expect_file(path)

    # Written by hand, valid: keys in neither sorted nor offset order, data unaligned (a u8 of
    # 3 bytes first), a header length that is not a multiple of 8, JSON whitespace and escapes
    # in names ("tab\t", "é" as \u00e9, a surrogate pair), an extra field the library ignores.
    u8 = bytes([7, 8, 9])
    f32 = struct.pack("<3f", 1.25, -2.0, 1e-3)
    f64 = struct.pack("<2d", 3.141592653589793, -0.0)
    bf = struct.pack("<2H", 0x3FC0, 0xFF80)  # 1.5, -inf
    header = ('{ "z.f64" : {"dtype":"F64","shape":[2],"data_offsets":[15,31]},\n'
              '  "caf\\u00e9\\t\\ud83d\\ude00" : {"shape":[1,3],"dtype":"F32","data_offsets":[3,15],"extra":[1,{"a":null}]},\n'
              '  "__metadata__" : {"writer":"by hand"},\n'
              '  "a.u8" : {"dtype":"U8","shape":[3],"data_offsets":[0,3]},\n'
              '  "m.bf16" : {"dtype":"BF16","shape":[2],"data_offsets":[31,35]} }  ')
    blob = raw(header, u8 + f32 + f64 + bf, pad_to=1)
    assert len(header.encode()) % 8 != 0
    path = os.path.join(OUT, "handmade_unaligned.safetensors")
    with open(path, "wb") as f:
        f.write(blob)
    expected["files"]["handmade_unaligned.safetensors"] = expect_file(path)
    expected["files"]["handmade_unaligned.safetensors"]["library"] = library_verdict(blob)

    # An empty header: no tensors, no data.
    path = os.path.join(OUT, "no_tensors.safetensors")
    with open(path, "wb") as f:
        f.write(raw("{}"))
    expected["files"]["no_tensors.safetensors"] = expect_file(path)

    # Hostile: each must be refused (NpyIO's messages are checked by the tests).
    two = struct.pack("<3f", 1, 2, 3)
    hostile = {
        # 4 bytes nobody owns between the tensors.
        "hole": raw({"a": entry("F32", [1], 0, 4), "b": entry("F32", [2], 8, 16)}, two + b"\0" * 4),
        # b starts inside a.
        "overlap": raw({"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 4, 12)}, two),
        # 3 floats in 8 bytes.
        "wrong_byte_count": raw({"a": entry("F32", [3], 0, 8)}, two[:8]),
        # The length field claims more than the format allows (and more than the file).
        "header_too_big": raw({"a": entry("U8", [1], 0, 1)}, b"\1", n=100_000_001),
        # The length field runs past the end of the file.
        "header_past_eof": raw({"a": entry("U8", [1], 0, 1)}, b"\1", n=200),
        # Bytes after the last tensor (a polyglot file's hiding place).
        "trailing_bytes": raw({"a": entry("F32", [3], 0, 12)}, two, extra=b"PK\x03\x04"),
        # The same name twice (json.dumps of a dict cannot, so as text).
        "duplicate_key": raw('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                             '"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', two),
        # A trailing comma.
        "bad_json": raw('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},}', two),
        # float8, which NpyIO does not convert.
        "unsupported_dtype": raw({"a": entry("F8_E4M3", [4], 0, 4)}, b"\x38\x40\x44\x48"),
        "negative_shape": raw('{"a":{"dtype":"F32","shape":[-1,3],"data_offsets":[0,12]}}', two),
        # 2^62 * 4 elements of 4 bytes: overflows 64 bits.
        "huge_shape": raw({"a": entry("F32", [2**62, 4], 0, 12)}, two),
        # Not UTF-8 (a lone continuation byte in a name).
        "bad_utf8": raw(b'{"a\x80":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"\1"),
        # Metadata values must be strings.
        "metadata_not_str": raw({"__metadata__": {"n": 1}, "a": entry("U8", [1], 0, 1)}, b"\1"),
        # The first tensor does not start at 0.
        "not_from_zero": raw({"a": entry("U8", [2], 2, 4)}, b"\0\0\1\2"),
        # data_offsets with begin after end.
        "reversed_offsets": raw({"a": entry("U8", [0], 4, 0)}, b""),
    }
    for name, blob in hostile.items():
        with open(os.path.join(OUT, name + ".safetensors"), "wb") as f:
            f.write(blob)
        expected["hostile"][name + ".safetensors"] = {"library": library_verdict(blob), "bytes": len(blob)}

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write("\n")

    # bfloat16 in torch.save's zip and legacy formats (BFloat16Storage), with a transposed
    # view (gathered into C order) and a slice at an offset of the same storage.
    base = torch.tensor([1.0, -2.5, 3.3895e38, 1e-40, inf, -inf, nan, 0.1, 7.0, -0.0, 1e-3, 256.0],
                        dtype=torch.bfloat16).reshape(3, 4)
    sd = {"w": base, "w_t": base.t(), "row": base[1], "scalar": torch.tensor(0.5, dtype=torch.bfloat16)}
    bexp = {"files": {}}
    for fmt, name in (("zip", "bf16_zip.pth"), ("legacy", "bf16_legacy.pth")):
        path = os.path.join(TORCH_OUT, name)
        nets.save_state_dict(path, sd, fmt)
        back = torch.load(path, weights_only=True)
        bexp["files"][name] = {k: {"dtype": "<bf16", "shape": list(v.shape), "values": floats(v.double())}
                               for k, v in back.items()}
    with open(os.path.join(TORCH_OUT, "bf16_expected.json"), "w") as f:
        json.dump(bexp, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
