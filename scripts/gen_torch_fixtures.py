#!/usr/bin/env python3
"""Small checkpoints written by PyTorch itself for NpyIO's weight-file readers
(Tests/NpyIOTests/TorchCheckpointTests.swift, TorchLegacyTests.swift): torch.save's zip format,
its legacy raw stream (as MMagic's model zoo writes it) and the 2017-era `_rebuild_tensor` (v1)
stream of torchvision's VGG files (both through shared/oracle/nets.py), a big-endian zip (what a
big-endian host writes: storages swapped, byteorder `big`), a TorchScript archive, mmengine-like
wrapped checkpoints, with the values torch gives back, and hostile files. Run with the reference
python (shared/oracle/oracle-setup):

    $(../shared/oracle/oracle-setup) scripts/gen_torch_fixtures.py
"""
import collections
import io
import json
import os
import zipfile

import pickle
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "oracle"))
import nets  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "torch")


class HistoryBuffer:
    """Stands for mmengine's objects in a checkpoint's message_hub (pickled by reference)."""
    def __init__(self):
        self.data = [1.5, 2.5]


class Evil:
    def __reduce__(self):
        return (os.system, ("touch LOSSCLI_PICKLE_RAN",))


class EvilEval:
    def __reduce__(self):
        return (eval, ("__import__('os').system('touch LOSSCLI_PICKLE_RAN')",))


class Script(torch.nn.Module):
    """A small TorchScript module: nested submodules, a buffer, a frozen parameter, a
    Dict[str, int] and a List[int] attribute (pickled through torch.jit._pickle's tags)."""
    def __init__(self, g):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 3, 3)
        self.block = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.LayerNorm(2))
        self.register_buffer("scale", torch.randn(3, generator=g).double())
        self.frozen = torch.nn.Parameter(torch.randn(2, 2, generator=g).half(), requires_grad=False)
        self.table = {"a": 1, "b": 2}
        self.sizes = [1, 2, 3]
        with torch.no_grad():
            for p in list(self.conv.parameters()) + list(self.block.parameters()):
                p.copy_(torch.randn(p.shape, generator=g))

    def forward(self, x):
        return self.conv(x) * self.scale.float().view(1, 3, 1, 1) + self.table["a"] + self.sizes[0]


class Inert(dict):
    def __init__(self, *args):
        super().__init__()

    def __setstate__(self, state):
        pass


class Names(pickle.Unpickler):
    """Reads a torch pickle without importing or calling anything; records storages' types."""
    def __init__(self, f):
        super().__init__(f)
        self.storages = {}

    def find_class(self, m, n):
        return Inert if m != "torch" else n

    def persistent_load(self, pid):
        self.storages[pid[2]] = pid[1]
        return pid


def big_endian(src, dst):
    """The zip `src` as a big-endian host writes it: every storage byte-swapped, byteorder big."""
    z = zipfile.ZipFile(src)
    pkl = z.read([n for n in z.namelist() if n.endswith("data.pkl")][0])
    names = Names(io.BytesIO(pkl))
    names.load()
    elsize = {"FloatStorage": 4, "DoubleStorage": 8, "HalfStorage": 2, "LongStorage": 8, "IntStorage": 4,
              "ShortStorage": 2, "BoolStorage": 1, "ByteStorage": 1, "CharStorage": 1}
    sizes = {k: elsize[t] for k, t in names.storages.items()}
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as out:
        for info in z.infolist():
            data = z.read(info.filename)
            key = info.filename.split("/data/")[-1] if "/data/" in info.filename else None
            if info.filename.endswith("byteorder"):
                data = b"big"
            elif key in sizes and sizes[key] > 1:
                data = np.frombuffer(data, dtype=f"<u{sizes[key]}").byteswap().tobytes()
            out.writestr(info, data)


def expect(sd):
    out = {}
    for k, t in sd.items():
        out[k] = {"dtype": np.asarray(t.numpy()).dtype.str if t.dtype != torch.bool else "|b1",
                  "shape": list(t.shape), "values": t.double().flatten().tolist()}
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    sd = collections.OrderedDict([
        ("features.0.weight", torch.randn(2, 3, 3, 3, generator=g)),
        ("features.0.bias", torch.randn(2, generator=g)),
        ("bn.num_batches_tracked", torch.tensor(12345678901, dtype=torch.int64)),
        ("half", torch.randn(3, generator=g).half()),
        ("double", torch.randn(2, 2, generator=g).double()),
        ("mask", torch.tensor([True, False, True, True])),
        ("int8", torch.tensor([-128, 0, 127], dtype=torch.int8)),
        ("uint8", torch.tensor([0, 200, 255], dtype=torch.uint8)),
        ("int16", torch.tensor([-32768, 7, 32767], dtype=torch.int16)),
        ("int32", torch.tensor([-2147483648, 7, 2147483647], dtype=torch.int32)),
        ("empty", torch.zeros(0, 3)),
    ])
    torch.save(sd, os.path.join(OUT, "state_dict.pth"))
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    views = collections.OrderedDict([("base", base), ("transposed", base.t()), ("row_slice", base[1:]),
                                     ("column", base[:, 2]), ("expanded", torch.tensor([5.0]).expand(2, 3))])
    torch.save(views, os.path.join(OUT, "views.pth"))
    wrapped = {"meta": {"epoch": 3, "np_scalar": np.float64(0.25), "config": "x"},
               "state_dict": collections.OrderedDict([("module.conv.weight", torch.ones(1, 1, 2, 2)),
                                                      ("module.conv.bias", torch.zeros(1))]),
               "message_hub": HistoryBuffer()}
    torch.save(wrapped, os.path.join(OUT, "wrapped.pth"), pickle_protocol=4)
    torch.save(Evil(), os.path.join(OUT, "evil.pth"))
    # Hostile edits of a real file (rewritten by zipfile, so CRCs are right): a storage whose
    # numel (54) claims more than its record holds, and a view larger than its storage.
    src = zipfile.ZipFile(os.path.join(OUT, "state_dict.pth"))
    pkl = src.read("state_dict/data.pkl")
    i = pkl.index(b"cpu")
    j = pkl.index(b"K6", i)            # BININT1 54: the first storage's numel
    edits = {"bad_numel.pth": pkl[:j] + b"K7" + pkl[j + 2:],
             "view_too_big.pth": pkl.replace(b"K\x02K\x03K\x03K\x03", b"K\x03K\x03K\x03K\x03", 1)}
    for name, data in edits.items():
        assert data != pkl, name
        with zipfile.ZipFile(os.path.join(OUT, name), "w", zipfile.ZIP_STORED) as out:
            for info in src.infolist():
                out.writestr(info.filename, data if info.filename.endswith("data.pkl") else src.read(info.filename))
    expected = {"state_dict.pth": expect(sd), "views.pth": expect(views),
                "wrapped.pth": expect({"state_dict.module.conv.weight": wrapped["state_dict"]["module.conv.weight"],
                                       "state_dict.module.conv.bias": wrapped["state_dict"]["module.conv.bias"]})}
    # The legacy raw stream, both reducers; views in it; an mmengine-like wrapped one.
    for fmt in ("legacy", "legacy-v1"):
        nets.save_state_dict(os.path.join(OUT, f"state_dict_{fmt}.pth"), sd, fmt)
        expected[f"state_dict_{fmt}.pth"] = expect(sd)
    nets.save_state_dict(os.path.join(OUT, "state_dict_legacy_p4.pth"), sd, "legacy", pickle_protocol=4)
    expected["state_dict_legacy_p4.pth"] = expect(sd)
    nets.save_state_dict(os.path.join(OUT, "views_legacy.pth"), views, "legacy")
    # An .npz state dict (np.savez of each tensor under its key), read as a weight file too.
    small = collections.OrderedDict((k, v) for k, v in sd.items() if k.startswith("features."))
    nets.save_state_dict(os.path.join(OUT, "state_dict.npz"), small, "npz")
    expected["state_dict.npz"] = expect(small)
    expected["views_legacy.pth"] = expect(views)
    conv = collections.OrderedDict([("module.conv.weight", torch.randn(2, 1, 3, 3, generator=g)),
                                    ("module.conv.bias", torch.randn(2, generator=g))])
    nets.save_state_dict(os.path.join(OUT, "wrapped_legacy.pth"), {"meta": nets.mmengine_meta(3), "state_dict": conv}, "legacy")
    expected["wrapped_legacy.pth"] = expect({"state_dict." + k: v for k, v in conv.items()})
    big_endian(os.path.join(OUT, "state_dict.pth"), os.path.join(OUT, "big_endian.pth"))
    expected["big_endian.pth"] = {k: dict(v, dtype=v["dtype"].replace("<", ">")) for k, v in expect(sd).items()}
    # TorchScript: what torch.jit.load(...).state_dict() gives.
    m = torch.jit.script(Script(g))
    m.save(os.path.join(OUT, "script.pt"))
    expected["script.pt"] = expect(torch.jit.load(os.path.join(OUT, "script.pt")).state_dict())
    # Hostile: calls in the legacy stream, alone and beside tensors (inert there).
    nets.save_state_dict(os.path.join(OUT, "evil_legacy.pth"), Evil(), "legacy")
    nets.save_state_dict(os.path.join(OUT, "evil_eval.pth"), EvilEval(), "zip")
    nets.save_state_dict(os.path.join(OUT, "evil_beside.pth"), {"state_dict": conv, "hook": Evil()}, "legacy")
    expected["evil_beside.pth"] = expect({"state_dict." + k: v for k, v in conv.items()})
    # Hostile edits of the legacy stream: a storage cut short, bytes after the last storage,
    # a storage count that disagrees with its persistent id.
    raw = open(os.path.join(OUT, "state_dict_legacy.pth"), "rb").read()
    open(os.path.join(OUT, "legacy_truncated.pth"), "wb").write(raw[:-5])
    open(os.path.join(OUT, "legacy_trailing.pth"), "wb").write(raw + b"\0" * 3)
    # The first storage's count (i64 LE after the fifth pickle) made one more than its
    # persistent id says.
    f = io.BytesIO(raw)
    for _ in range(5):
        Names(f).load()
    first = f.tell()
    count = int.from_bytes(raw[first:first + 8], "little")
    open(os.path.join(OUT, "legacy_bad_count.pth"), "wb").write(
        raw[:first] + (count + 1).to_bytes(8, "little") + raw[first + 8:])
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"generator": "scripts/gen_torch_fixtures.py", "torch": torch.__version__, "files": expected}, f)
    for name in sorted(os.listdir(OUT)):
        print(name, os.path.getsize(os.path.join(OUT, name)))


if __name__ == "__main__":
    main()
