#!/usr/bin/env python3
"""Writes fixtures/kernels/*.json: values and gradients of PyTorch's conv2d, pooling,
interpolate and matmul, for the LossKit kernel tests (Tests/LossKitTests/Kernel*.swift).

Run with the oracle environment's python (it needs torch):
    /tmp/oracle/venv/bin/python scripts/gen_kernel_fixtures.py

Inputs are float32 numbers stored as float64, so the Float and the Double kernels read the
same values; references are computed by torch in float64. Each case also stores a random
upstream gradient `gy` and torch's gradients for it. Floats are written with repr (exact).
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20261127)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "kernels")


def rand(*shape):
    return torch.randn(*shape, dtype=torch.float32).to(torch.float64)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def write(name, cases):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump({"generator": "scripts/gen_kernel_fixtures.py", "torch": torch.__version__,
                   "cases": cases}, f, separators=(",", ":"))
    print(path, os.path.getsize(path), "bytes,", len(cases), "cases")


def conv_cases():
    specs = [
        # name, input, weight, bias, stride, padding, dilation, groups
        ("basic_pad1", (2, 3, 7, 9), (4, 3, 3, 3), True, (1, 1), (1, 1), (1, 1), 1),
        ("stride2_pad12", (1, 2, 9, 8), (3, 2, 3, 2), True, (2, 2), (1, 2), (1, 1), 1),
        ("dilation21_pad2", (1, 2, 10, 11), (2, 2, 3, 3), False, (1, 1), (2, 2), (2, 1), 1),
        ("groups2_stride21", (2, 4, 6, 5), (6, 2, 3, 3), True, (2, 1), (1, 1), (1, 1), 2),
        ("depthwise_mult2", (1, 4, 8, 8), (8, 1, 3, 3), True, (1, 1), (1, 1), (1, 1), 4),
        ("width1", (1, 3, 5, 1), (2, 3, 3, 1), True, (1, 1), (1, 0), (1, 1), 1),
        ("width17_tail", (1, 2, 3, 17), (3, 2, 1, 3), True, (1, 1), (0, 1), (1, 1), 1),
        ("width15_1x1", (1, 1, 2, 15), (2, 1, 1, 1), False, (1, 1), (0, 0), (1, 1), 1),
        ("width16_k2s2", (1, 2, 4, 16), (5, 2, 2, 2), True, (2, 2), (0, 0), (1, 1), 1),
        ("stride3_gt_kernel", (1, 2, 11, 10), (2, 2, 2, 2), True, (3, 3), (1, 1), (1, 1), 1),
        ("dilated_strided_groups", (2, 6, 9, 13), (3, 2, 3, 3), True, (2, 3), (2, 1), (2, 2), 3),
        ("batch0", (0, 3, 5, 5), (2, 3, 3, 3), True, (1, 1), (1, 1), (1, 1), 1),
    ]
    cases = []
    for name, xs, ws, has_b, s, p, d, g in specs:
        x = rand(*xs).requires_grad_()
        w = rand(*ws).requires_grad_()
        b = rand(ws[0]).requires_grad_() if has_b else None
        y = F.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=g)
        gy = rand(*y.shape)
        inputs = [x, w] + ([b] if has_b else [])
        grads = torch.autograd.grad(y, inputs, gy, allow_unused=True)
        grads = [gr if gr is not None else torch.zeros_like(t) for gr, t in zip(grads, inputs)]
        case = {"name": name, "input_shape": list(xs), "weight_shape": list(ws),
                "stride": list(s), "padding": list(p), "dilation": list(d), "groups": g,
                "output_shape": list(y.shape), "x": flat(x), "w": flat(w), "gy": flat(gy),
                "y": flat(y), "gx": flat(grads[0]), "gw": flat(grads[1])}
        if has_b:
            case["b"] = flat(b)
            case["gb"] = flat(grads[2])
        cases.append(case)
    return cases


def pool_cases():
    cases = []
    avg = [
        # name, input, kernel, stride, padding, ceil, count_include_pad, divisor_override
        ("avg_k3s2p1", (2, 3, 7, 9), (3, 3), (2, 2), (1, 1), False, True, None),
        ("avg_k3s2p1_ceil", (2, 3, 7, 9), (3, 3), (2, 2), (1, 1), True, True, None),
        ("avg_k3s2p1_ceil_nopad", (1, 2, 8, 10), (3, 3), (2, 2), (1, 1), True, False, None),
        ("avg_k23_s12", (1, 2, 5, 7), (2, 3), (1, 2), (0, 1), False, True, None),
        ("avg_k2_ceil_w17", (1, 2, 5, 17), (2, 2), (2, 2), (0, 0), True, True, None),
        ("avg_width1", (1, 1, 6, 1), (3, 1), (2, 1), (1, 0), False, True, None),
        ("avg_divisor5", (1, 2, 6, 6), (3, 3), (2, 2), (1, 1), True, True, 5),
        ("avg_batch0", (0, 2, 6, 6), (2, 2), (2, 2), (0, 0), False, True, None),
    ]
    for name, xs, k, s, p, ceil, cip, div in avg:
        x = rand(*xs).requires_grad_()
        y = F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=cip, divisor_override=div)
        gy = rand(*y.shape)
        (gx,) = torch.autograd.grad(y, [x], gy)
        cases.append({"name": name, "op": "avg", "input_shape": list(xs), "kernel": list(k),
                      "stride": list(s), "padding": list(p), "dilation": [1, 1], "ceil_mode": ceil,
                      "count_include_pad": cip, "divisor_override": div,
                      "output_shape": list(y.shape), "x": flat(x), "gy": flat(gy),
                      "y": flat(y), "gx": flat(gx)})
    mx = [
        # name, input, kernel, stride, padding, dilation, ceil, integer-valued (ties)
        ("max_k3s2p1", (2, 2, 7, 9), (3, 3), (2, 2), (1, 1), (1, 1), False, False),
        ("max_k3s2p1_ceil", (1, 3, 8, 10), (3, 3), (2, 2), (1, 1), (1, 1), True, False),
        ("max_dilation2", (1, 2, 9, 11), (3, 2), (1, 2), (1, 1), (2, 3), False, False),
        ("max_dilation2_ceil", (1, 2, 10, 10), (2, 3), (3, 2), (1, 1), (2, 2), True, False),
        ("max_width1", (1, 2, 6, 1), (2, 1), (1, 1), (1, 0), (1, 1), False, False),
        ("max_ties_overlap", (1, 2, 6, 17), (3, 3), (1, 1), (1, 1), (1, 1), False, True),
        ("max_k2_w16", (2, 1, 4, 16), (2, 2), (2, 2), (0, 0), (1, 1), False, False),
    ]
    for name, xs, k, s, p, d, ceil, ties in mx:
        x = (torch.randint(-2, 3, xs).to(torch.float64) if ties else rand(*xs)).requires_grad_()
        y, idx = F.max_pool2d(x, k, s, p, d, ceil_mode=ceil, return_indices=True)
        gy = rand(*y.shape)
        (gx,) = torch.autograd.grad(y, [x], gy)
        cases.append({"name": name, "op": "max", "input_shape": list(xs), "kernel": list(k),
                      "stride": list(s), "padding": list(p), "dilation": list(d), "ceil_mode": ceil,
                      "output_shape": list(y.shape), "x": flat(x), "gy": flat(gy),
                      "y": flat(y), "indices": [int(v) for v in idx.reshape(-1).tolist()],
                      "gx": flat(gx)})
    adaptive = [
        ("adaptive_7x9_to_3x4", (2, 3, 7, 9), (3, 4)),
        ("adaptive_identity", (1, 2, 5, 5), (5, 5)),
        ("adaptive_global", (1, 3, 7, 9), (1, 1)),
        ("adaptive_6x4_to_4x3", (1, 2, 6, 4), (4, 3)),
        ("adaptive_up_3x3_to_5x7", (1, 2, 3, 3), (5, 7)),
        ("adaptive_w17_to_w5", (1, 1, 2, 17), (1, 5)),
    ]
    for name, xs, o in adaptive:
        x = rand(*xs).requires_grad_()
        y = F.adaptive_avg_pool2d(x, o)
        gy = rand(*y.shape)
        (gx,) = torch.autograd.grad(y, [x], gy)
        cases.append({"name": name, "op": "adaptive_avg", "input_shape": list(xs),
                      "output_size": list(o), "output_shape": list(y.shape), "x": flat(x),
                      "gy": flat(gy), "y": flat(y), "gx": flat(gx)})
    return cases


def resize_cases():
    specs = [
        # name, input, mode, size, scale_factor, align_corners, recompute
        ("nearest_up_13x5", (1, 2, 7, 9), "nearest", (13, 5), None, None, None),
        ("nearest_2x", (1, 2, 5, 6), "nearest", (10, 12), None, None, None),
        ("nearest_scale1.7", (1, 2, 5, 6), "nearest", None, (1.7, 1.7), None, None),
        ("nearest_scale0.45", (1, 1, 9, 11), "nearest", None, (0.45, 0.45), None, None),
        ("nearest_width1_to3", (1, 2, 4, 1), "nearest", (7, 3), None, None, None),
        ("bilinear_up", (1, 2, 5, 7), "bilinear", (9, 16), None, False, None),
        ("bilinear_up_align", (1, 2, 5, 7), "bilinear", (9, 17), None, True, None),
        ("bilinear_down", (2, 1, 9, 15), "bilinear", (4, 6), None, False, None),
        ("bilinear_down_align", (1, 2, 9, 15), "bilinear", (4, 6), None, True, None),
        ("bilinear_scale1.5", (1, 2, 5, 7), "bilinear", None, (1.5, 1.5), False, None),
        ("bilinear_scale1.3_recompute", (1, 2, 5, 7), "bilinear", None, (1.3, 1.3), False, True),
        ("bilinear_scale0.6", (1, 1, 9, 11), "bilinear", None, (0.6, 0.6), False, None),
        ("bilinear_to1_align", (1, 1, 4, 5), "bilinear", (1, 3), None, True, None),
        ("bilinear_width1", (1, 2, 4, 1), "bilinear", (6, 3), None, False, None),
        ("bicubic_up", (1, 2, 5, 7), "bicubic", (9, 16), None, False, None),
        ("bicubic_up_align", (1, 2, 5, 7), "bicubic", (11, 15), None, True, None),
        ("bicubic_down", (1, 2, 11, 17), "bicubic", (4, 6), None, False, None),
        ("bicubic_scale2.5", (1, 1, 4, 5), "bicubic", None, (2.5, 2.5), False, None),
        ("bicubic_scale0.7", (1, 1, 9, 11), "bicubic", None, (0.7, 0.7), False, None),
        ("bicubic_width1", (1, 1, 3, 1), "bicubic", (5, 4), None, False, None),
    ]
    cases = []
    for name, xs, mode, size, sf, ac, rc in specs:
        x = rand(*xs).requires_grad_()
        kw = {"mode": mode}
        if size is not None:
            kw["size"] = size
        else:
            kw["scale_factor"] = sf
            if rc is not None:
                kw["recompute_scale_factor"] = rc
        if ac is not None:
            kw["align_corners"] = ac
        y = F.interpolate(x, **kw)
        gy = rand(*y.shape)
        (gx,) = torch.autograd.grad(y, [x], gy)
        cases.append({"name": name, "input_shape": list(xs), "mode": mode,
                      "size": list(size) if size else None,
                      "scale_factor": list(sf) if sf else None, "align_corners": ac,
                      "recompute_scale_factor": rc, "output_shape": list(y.shape),
                      "x": flat(x), "gy": flat(gy), "y": flat(y), "gx": flat(gx)})
    return cases


def gemm_cases():
    specs = [
        # name, batch, m, n, k, transA, transB, alpha, beta
        ("mm_1x1x1", 1, 1, 1, 1, False, False, 1.0, 0.0),
        ("mm_7x15x5", 1, 7, 15, 5, False, False, 1.0, 0.0),
        ("mm_6x16x17_tA", 1, 6, 16, 17, True, False, 1.0, 0.0),
        ("mm_13x17x9_tB", 1, 13, 17, 9, False, True, 1.0, 0.0),
        ("mm_5x33x8_tAtB_alpha_beta", 1, 5, 33, 8, True, True, 0.5, -2.0),
        ("mm_k0_beta", 1, 3, 4, 0, False, False, 1.0, 3.0),
        ("bmm_3x5x7x4", 3, 5, 7, 4, False, False, 1.0, 0.0),
        ("bmm_2x9x17x6_tB_beta1", 2, 9, 17, 6, False, True, 1.0, 1.0),
    ]
    cases = []
    for name, bt, m, n, k, ta, tb, alpha, beta in specs:
        a = rand(bt, k, m) if ta else rand(bt, m, k)
        b = rand(bt, n, k) if tb else rand(bt, k, n)
        c = rand(bt, m, n)
        opa = a.transpose(1, 2) if ta else a
        opb = b.transpose(1, 2) if tb else b
        out = alpha * torch.bmm(opa, opb) + beta * c
        cases.append({"name": name, "batch": bt, "m": m, "n": n, "k": k, "trans_a": ta,
                      "trans_b": tb, "alpha": alpha, "beta": beta, "a": flat(a), "b": flat(b),
                      "c": flat(c), "out": flat(out)})
    return cases


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    write("conv2d.json", conv_cases())
    write("pool2d.json", pool_cases())
    write("resize2d.json", resize_cases())
    write("gemm.json", gemm_cases())
