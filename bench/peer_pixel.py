#!/usr/bin/env python3
"""PyTorch peer of bench workload 1: MMagic's L1Loss + MSELoss + CharbonnierLoss(sample_wise)
with a weight, forward + backward, on the arrays bench/run.py generated.

    python bench/peer_pixel.py PRED.npy TARGET.npy WEIGHT.npy MODE [REPS]

MODE "total": the gradient of the sum of the three terms w.r.t. pred, target and weight
(what a training step needs). MODE "terms": the gradient of each term and of the total, as
`losscli eval` reports them by default, computed the way losscli does (one backward pass per
term; the total's gradient is the sum of the terms'). Prints JSON: the median compute time (forward +
backward, ms, 2 threads; the arrays are loaded before timing; median of the steps after the
first, and the first step alone), the values and the gradient
norms, so that run.py can check that both sides computed the same numbers.
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
L = mmoracle.load()
pred_np, target_np, weight_np = (np.load(p) for p in sys.argv[1:4])
mode = sys.argv[4]
reps = int(sys.argv[5]) if len(sys.argv) > 5 else 5
losses = {"l1_loss": L.L1Loss(), "mse_loss": L.MSELoss(), "charb_loss": L.CharbonnierLoss(sample_wise=True)}


def step():
    pred, target, weight = (torch.from_numpy(a).requires_grad_() for a in (pred_np, target_np, weight_np))
    ins = (pred, target, weight)
    terms = {k: f(pred, target, weight) for k, f in losses.items()}
    total = sum(terms.values())
    if mode == "total":
        return terms, total, {"total": torch.autograd.grad(total, ins)}
    grads = {}
    for i, (k, v) in enumerate(terms.items()):
        grads[k] = torch.autograd.grad(v, ins, retain_graph=i + 1 < len(terms))
    grads["total"] = tuple(sum(gs) for gs in zip(*grads.values()))
    return terms, total, grads


times = []
for _ in range(reps + 1):
    t0 = time.perf_counter()
    terms, total, grads = step()
    times.append(time.perf_counter() - t0)
# compute_ms: warm steps (torch's allocator and thread pool already set up); first_ms: the
# first step of the process, cold as every `losscli eval` run is.
out = {"compute_ms": statistics.median(times[1:]) * 1e3, "first_ms": times[0] * 1e3, "total": total.item(),
       "terms": {k: v.item() for k, v in terms.items()},
       "gradients": {o: {n: float(g.double().norm()) for n, g in zip(("pred", "target", "weight"), gs)}
                     for o, gs in grads.items()}}
print(json.dumps(out))
