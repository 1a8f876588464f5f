#!/usr/bin/env python3
"""Small checkpoints written by PyTorch itself (torch.save, zip format) for NpyIO's
TorchCheckpoint reader (Tests/NpyIOTests/TorchCheckpointTests.swift), with the values torch
gives back, and one hostile file. Run with the reference python (shared/oracle/oracle-setup):

    $(../shared/oracle/oracle-setup) scripts/gen_torch_fixtures.py
"""
import collections
import json
import os
import zipfile

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "torch")


class HistoryBuffer:
    """Stands for mmengine's objects in a checkpoint's message_hub (pickled by reference)."""
    def __init__(self):
        self.data = [1.5, 2.5]


class Evil:
    def __reduce__(self):
        return (os.system, ("touch LOSSCLI_PICKLE_RAN",))


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
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"generator": "scripts/gen_torch_fixtures.py", "torch": torch.__version__, "files": expected}, f)
    for name in sorted(os.listdir(OUT)):
        print(name, os.path.getsize(os.path.join(OUT, name)))


if __name__ == "__main__":
    main()
