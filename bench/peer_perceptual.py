#!/usr/bin/env python3
"""PyTorch peer of the PerceptualLoss workloads: MMagic's PerceptualLoss (vgg19, weights from
the given torchvision-format file through shared/oracle/mmoracle.py), forward + the gradient
w.r.t. x, on the arrays bench/run.py generated.

    python bench/peer_perceptual.py WEIGHTS.pth X.npy GT.npy STYLE_WEIGHT [REPS]

Prints JSON: the median compute time of the steps after the first (2 threads, arrays loaded
before timing), the first step, the parts and the gradient's norm.
"""
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.environ.get("MMORACLE_DIR", os.path.join(os.path.dirname(ROOT), "shared", "oracle")))
import mmoracle  # noqa: E402

torch.set_num_threads(2)
mmoracle.use_vgg_weights(sys.argv[1])
L = mmoracle.load()
x_np, gt_np = np.load(sys.argv[2]), np.load(sys.argv[3])
style = float(sys.argv[4])
reps = int(sys.argv[5]) if len(sys.argv) > 5 else 3
loss = L.PerceptualLoss(layer_weights={"2": 0.1, "7": 0.1, "16": 1.0, "25": 1.0, "34": 1.0}, style_weight=style)
gt = torch.from_numpy(gt_np)
times = []
for _ in range(reps + 1):
    t0 = time.perf_counter()
    x = torch.from_numpy(x_np).requires_grad_()
    p, s = loss(x, gt)
    total = p + s if s is not None else p
    g, = torch.autograd.grad(total, x)
    times.append(time.perf_counter() - t0)
print(json.dumps({"compute_ms": statistics.median(times[1:]) * 1e3, "first_ms": times[0] * 1e3,
                  "perceptual": p.item(), "style": None if s is None else s.item(), "grad_norm": float(g.double().norm())}))
