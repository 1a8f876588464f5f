#!/usr/bin/env python3
"""Tiny weight files as MMagic users have them (fixtures/weights), for TensorIO's
StateDict(weights:) (Tests/TensorIOTests/StateDictWeightsTests.swift): one small state dict,
written by torch itself through shared/oracle/nets.py in each format, plain and wrapped the
ways checkpoints wrap it (mmengine's {'meta', 'state_dict', ...}, DataParallel's 'module.',
both), with the values torch gives back in expected.json. Run with the reference python:

    /tmp/oracle/venv/bin/python scripts/gen_weight_fixtures.py
"""
import collections
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, "/work/shared/oracle")
import nets  # noqa: E402

OUT = os.path.join(HERE, "..", "fixtures", "weights")
SEED = 11


def state_dict():
    """A conv + BatchNorm block (float32, as torchvision's), an int64 num_batches_tracked,
    and a float16 and a float64 tensor."""
    g = torch.Generator().manual_seed(SEED)
    return collections.OrderedDict([
        ("features.0.weight", torch.randn(4, 3, 3, 3, generator=g)),
        ("features.0.bias", torch.randn(4, generator=g)),
        ("features.1.weight", torch.rand(4, generator=g) + 0.5),
        ("features.1.bias", torch.randn(4, generator=g)),
        ("features.1.running_mean", torch.randn(4, generator=g)),
        ("features.1.running_var", torch.rand(4, generator=g) + 0.5),
        ("features.1.num_batches_tracked", torch.tensor(1234, dtype=torch.int64)),
        ("head.weight", torch.randn(2, 4, generator=g).half()),
        ("head.bias", torch.randn(2, generator=g).double()),
    ])


def wrapped(sd, wrap):
    """wrap: 'none', 'module' (DataParallel), 'state_dict' (an mmengine runner checkpoint:
    meta, and an optimizer whose tensors are not the network's), 'both'."""
    obj = sd
    if wrap in ("module", "both"):
        obj = collections.OrderedDict(("module." + k, v) for k, v in sd.items())
    if wrap in ("state_dict", "both"):
        g = torch.Generator().manual_seed(SEED + 1)
        obj = {"meta": nets.mmengine_meta(SEED), "state_dict": obj,
               "optimizer": {"state": {0: {"step": torch.tensor(3.0),
                                           "exp_avg": torch.randn(4, 3, 3, 3, generator=g)}},
                             "param_groups": [{"lr": 1e-4, "params": [0]}]}}
    return obj


def main():
    os.makedirs(OUT, exist_ok=True)
    sd = state_dict()
    files = {}
    for fmt in ("zip", "legacy", "legacy-v1"):
        for wrap in ("none", "module", "state_dict", "both"):
            name = f"{fmt}_{wrap}.pth"
            nets.save_state_dict(os.path.join(OUT, name), wrapped(sd, wrap), fmt)
            files[name] = {"format": fmt, "wrap": wrap}
    for fmt, ext in (("safetensors", "safetensors"), ("npz", "npz")):
        for wrap in ("none", "module"):
            name = f"{fmt}_{wrap}.{ext}"
            nets.save_state_dict(os.path.join(OUT, name), dict(wrapped(sd, wrap)), fmt)
            files[name] = {"format": fmt, "wrap": wrap}
    # torch reads back what it wrote: the expected values come from the file, not from `sd`.
    for name, info in files.items():
        if info["format"] in ("zip", "legacy", "legacy-v1"):
            back = torch.load(os.path.join(OUT, name), weights_only=False)
            if info["wrap"] in ("state_dict", "both"):
                back = back["state_dict"]
            back = {k.removeprefix("module."): v for k, v in back.items()}
            assert all(torch.equal(back[k], v) for k, v in sd.items()), name
    expected = {"files": files, "tensors": collections.OrderedDict(
        (k, {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape),
             "values": v.double().flatten().tolist()}) for k, v in sd.items())}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
