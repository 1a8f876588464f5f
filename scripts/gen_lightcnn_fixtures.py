#!/usr/bin/env python3
"""LightCNNFeatureLoss values and input gradients from MMagic's own class
(shared/oracle/mmoracle.py) for Tests/LossKitTests/LightCNNFeatureLossTests.swift, with the
weight and image formula of gen_perceptual_fixtures.py (`u`): features.I.filter.weight is
u(8I, j) * 2^round(log2 sqrt(24 / fan_in)), features.I.filter.bias u(8I+1, j) / 8, in float32;
images x = 2 u(1000 + s, j), gt = 2 u(2000 + s, j). The weights go through a legacy-format file
as MMagic's are published, read by MMagic's loader. Run with the reference python:

    $(../shared/oracle/oracle-setup) scripts/gen_lightcnn_fixtures.py
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
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "shared", "oracle"))
import mmoracle  # noqa: E402
import nets  # noqa: E402
from gen_perceptual_fixtures import images, u  # noqa: E402

OUT = os.path.join(HERE, "..", "fixtures", "networks")

CASES = [  # name, kwargs, shape, seed
    ("l1_32", dict(), (2, 3, 32, 32), 21),
    ("mse_odd", dict(criterion="mse", loss_weight=2.5), (1, 3, 30, 22), 22),
    ("l1_small", dict(loss_weight=0.5), (2, 3, 9, 13), 23),
]


def weights():
    sd = collections.OrderedDict()
    for i, cin, cout, k in nets.LIGHTCNN_LAYERS:
        shape = (2 * cout, cin, k, k)
        n = int(np.prod(shape))
        scale = 2.0 ** round(math.log2(math.sqrt(24 / (cin * k * k))))
        sd[f"features.{i}.filter.weight"] = torch.from_numpy((u(8 * i, n) * scale).astype(np.float32)).reshape(shape)
        sd[f"features.{i}.filter.bias"] = torch.from_numpy((u(8 * i + 1, 2 * cout) / 8).astype(np.float32))
    return sd


def main():
    os.makedirs(OUT, exist_ok=True)
    L = mmoracle.load()
    path = os.path.join(tempfile.mkdtemp(), "light_cnn_feature.pth")
    nets.save_state_dict(path, weights(), "legacy")
    out = {"generator": "scripts/gen_lightcnn_fixtures.py", "torch": torch.__version__, "cases": []}
    arrays = {}
    for name, kw, shape, seed in CASES:
        x32, gt32 = images(seed, shape)
        case = {"name": name, "params": kw, "shape": list(shape), "seed": seed}
        for dtype, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
            loss = L.LightCNNFeatureLoss(pretrained=path, **kw)
            if dtype == torch.float64:
                loss = loss.double()
            x = x32.to(dtype).requires_grad_()
            v = loss(x, gt32.to(dtype))
            g, = torch.autograd.grad(v, x)
            case[tag] = v.item()
            arrays[f"{name}/{tag}"] = g.numpy()
        out["cases"].append(case)
    with open(os.path.join(OUT, "lightcnn.json"), "w") as f:
        json.dump(out, f, indent=1)
    np.savez_compressed(os.path.join(OUT, "lightcnn_grads.npz"), **arrays)
    for n in sorted(os.listdir(OUT)):
        print(n, os.path.getsize(os.path.join(OUT, n)))


if __name__ == "__main__":
    main()
