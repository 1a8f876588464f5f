#!/usr/bin/env python3
"""PerceptualLoss values and input gradients from MMagic's own class (shared/oracle/mmoracle.py)
for Tests/LossKitTests/PerceptualLossTests.swift, on VGG weights and images that both this
script and the test compute from one formula (so no weights are committed):

    u(tag, j) = ((j * 2654435761 + tag * 40503 + 12345) mod 2^32) / 2^32 - 1/2   (exact in float64)

    features.I.weight  u(8I, j) * 2^round(log2 sqrt(24 / fan_in))   (He-like spread)
    features.I.bias    u(8I+1, j) / 8
    BatchNorm at I     weight 1 + u(8I+2, j)/2, bias u(8I+3, j)/8, running_mean u(8I+4, j)/8,
                       running_var 1 + u(8I+5, j)/2, num_batches_tracked 7
    images             x = 2 u(1000 + s, j), gt = 2 u(2000 + s, j) for case seed s

each value computed in float64 (exactly) and rounded once to float32. Cases cover every VGG
type, BatchNorm with batch and running statistics, style on and off and with its own layers,
both criteria, the normalisation flags, layer names, batch 1 and 2 and non-square images, in
float32 and float64.

The float32 gradient of an L1 distance jumps where two entries are equal, so a case whose
Gram matrices have entries closer than float32's rounding (a few 1e-9 here) compares rounding
luck, not implementations: vgg13_style_only with seed 5 had two entries of |G(x) - G(gt)| ~ 1e-9
at pool2, below the 5e-9 error of any float32 Gram there, and the two float32 gradients differed
from the float64 one by 3.3e-4 (losscli) and 2.5e-7 (torch) while both float64 gradients agreed
to 1e-15. Its seed is 11, which has no such entry. Run with the reference python:

    $(../shared/oracle/oracle-setup) scripts/gen_perceptual_fixtures.py
"""
import collections
import json
import math
import os
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "shared", "oracle"))
import mmoracle  # noqa: E402
import nets  # noqa: E402

OUT = os.path.join(HERE, "..", "fixtures", "networks")


def u(tag, n):
    j = np.arange(n, dtype=np.uint64)
    h = (j * np.uint64(2654435761) + np.uint64(tag * 40503 + 12345)) % np.uint64(1 << 32)
    return h.astype(np.float64) / 2.0 ** 32 - 0.5


def vgg_weights(vgg_type):
    """features.* of vgg_type from the formula (torchvision's keys and shapes)."""
    template = nets.vgg_state_dict(vgg_type, 0, classifier=False)
    sd = collections.OrderedDict()
    for key, t in template.items():
        i, name = int(key.split(".")[1]), key.split(".")[2]
        n = t.numel()
        if name == "num_batches_tracked":
            sd[key] = torch.tensor(7, dtype=torch.int64)
            continue
        if t.dim() == 4:
            fan_in = t.shape[1] * t.shape[2] * t.shape[3]
            v = u(8 * i, n) * 2.0 ** round(math.log2(math.sqrt(24 / fan_in)))
        else:
            bn = any(k.startswith(f"features.{i}.running_mean") for k in template)
            kind = {"weight": 2, "bias": 3, "running_mean": 4, "running_var": 5}[name] if bn else 1
            base = u(8 * i + kind, n)
            v = {1: base / 8, 2: 1 + base / 2, 3: base / 8, 4: base / 8, 5: 1 + base / 2}[kind]
        sd[key] = torch.from_numpy(v.astype(np.float32)).reshape(t.shape)
    sd._metadata = template._metadata
    return sd


def images(seed, shape):
    n = int(np.prod(shape))
    x = (2 * u(1000 + seed, n)).astype(np.float32).reshape(shape)
    gt = (2 * u(2000 + seed, n)).astype(np.float32).reshape(shape)
    return torch.from_numpy(x), torch.from_numpy(gt)


CASES = [
    # name, vgg_type, constructor kwargs (MMagic's), batch_norm, shape, seed
    ("vgg19_style", "vgg19", dict(layer_weights={"2": 0.1, "7": 0.1, "16": 1.0, "25": 1.0, "34": 1.0}), "batch", (2, 3, 32, 32), 1),
    ("vgg19_no_style", "vgg19", dict(layer_weights={"2": 0.1, "7": 0.1, "16": 1.0, "25": 1.0, "34": 1.0}, style_weight=0.0), "batch", (1, 3, 32, 32), 2),
    ("vgg19_names", "vgg19", dict(layer_weights={"4": 0.5, "17": 1.0}, criterion="MSE"), "batch", (1, 3, 24, 20), 3),
    ("vgg16_mse_raw", "vgg16", dict(layer_weights={"2": 1.0, "10": 1.0, "30": 1.0}, use_input_norm=False, criterion="mse",
                                    pretrained="torchvision://vgg16"), "batch", (1, 3, 32, 32), 4),
    ("vgg13_style_only", "vgg13", dict(layer_weights={"4": 1.0, "9": 2.0}, perceptual_weight=0.0, style_weight=3.0,
                                       pretrained="torchvision://vgg13"), "batch", (2, 3, 20, 28), 11),
    ("vgg11_own_style", "vgg11", dict(layer_weights={"0": 1.0, "5": 0.5}, layer_weights_style={"3": 1.0, "8": 0.25},
                                      norm_img=False, criterion="mse", pretrained="torchvision://vgg11"), "batch", (2, 3, 16, 16), 6),
    ("vgg11_bn_batch", "vgg11_bn", dict(layer_weights={"3": 1.0, "10": 1.0}, pretrained="torchvision://vgg11_bn"), "batch", (2, 3, 24, 20), 7),
    ("vgg13_bn_running", "vgg13_bn", dict(layer_weights={"5": 1.0, "12": 0.5}, pretrained="torchvision://vgg13_bn"), "running", (1, 3, 16, 24), 8),
    ("vgg16_bn_batch", "vgg16_bn", dict(layer_weights={"2": 1.0, "22": 1.0}, style_weight=0.5,
                                        pretrained="torchvision://vgg16_bn"), "batch", (2, 3, 16, 16), 9),
    ("vgg19_bn_running", "vgg19_bn", dict(layer_weights={"9": 1.0, "25": 1.0}, criterion="mse",
                                          pretrained="torchvision://vgg19_bn"), "running", (2, 3, 16, 16), 10),
]
# layer names for vgg19_names (the test gives these, MMagic the indices): 4 = pool1, 17 = relu3_4
NAMES = {"vgg19_names": {"4": "pool1", "17": "relu3_4"}}


def main():
    os.makedirs(OUT, exist_ok=True)
    L = mmoracle.load()
    tmp = tempfile.mkdtemp()
    weights = {}
    out = {"generator": "scripts/gen_perceptual_fixtures.py", "torch": torch.__version__, "cases": []}
    arrays = {}
    for name, vgg_type, kw, bn, shape, seed in CASES:
        if vgg_type not in weights:
            path = os.path.join(tmp, vgg_type + ".pth")
            nets.save_state_dict(path, vgg_weights(vgg_type), "zip")
            weights[vgg_type] = path
        mmoracle.use_vgg_weights(weights[vgg_type])
        x32, gt32 = images(seed, shape)
        case = {"name": name, "vgg_type": vgg_type, "params": kw, "batch_norm": bn, "shape": list(shape), "seed": seed}
        if name in NAMES:
            case["params"] = dict(kw, layer_weights={NAMES[name][k]: v for k, v in kw["layer_weights"].items()})
        for dtype in (torch.float32, torch.float64):
            loss = L.PerceptualLoss(vgg_type=vgg_type, **kw)
            if dtype == torch.float64:
                loss = loss.double()
            if bn == "running":
                loss.eval()
            x = x32.to(dtype).requires_grad_()
            gt = gt32.to(dtype)
            p, s = loss(x, gt)
            parts = {"perceptual": p, "style": s}
            total = sum(v for v in parts.values() if v is not None)
            g, = torch.autograd.grad(total, x)
            tag = "f32" if dtype == torch.float32 else "f64"
            case[tag] = {k: (None if v is None else v.item()) for k, v in parts.items()}
            arrays[f"{name}/{tag}"] = g.numpy()
        out["cases"].append(case)
    with open(os.path.join(OUT, "perceptual.json"), "w") as f:
        json.dump(out, f, indent=1)
    np.savez_compressed(os.path.join(OUT, "perceptual_grads.npz"), **arrays)
    for n in sorted(os.listdir(OUT)):
        print(n, os.path.getsize(os.path.join(OUT, n)))


if __name__ == "__main__":
    main()
