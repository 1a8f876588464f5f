#!/usr/bin/env python3
"""Generates fixtures/ops/*.json: values, first-order gradients (vector-Jacobian products with
a random gradOutput) and, in float64, second-order products for every LossKit core op, computed
by PyTorch. Tests read these files; they never need torch.

Run with the oracle environment:  /tmp/oracle/venv/bin/python scripts/gen_op_fixtures.py

Format of each case:
  name, op, dtype, params      -- what to run (op names are interpreted by CoreOpFixtureTests)
  inputs: [{shape, data, grad}] -- data row-major; grad: whether the input requires grad
  outputs: [{shape, data}]      -- an op may return several tensors (chunk)
  indices: [...]                -- max only
  gout: [{shape, data}]         -- gradOutput for each output
  grads: [{shape, data}|null]   -- d(sum_k <out_k, gout_k>)/d input_i
  second (float64 only): {w: [...], grads: [...]}
      -- d(sum_i <grads_i, w_i>)/d input_j with the first-order grads built with create_graph
Floats are written with repr (exact round trip); nan/inf as the strings "nan", "inf", "-inf".
"""
import json, math, os, sys
import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
rng = np.random.default_rng(20261127)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "ops")


def enc(v):
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def enc32(v):
    """Shortest repr that still gives v after decimal -> double -> float32 (what the tests do)."""
    if math.isnan(v) or math.isinf(v):
        return enc(v)
    short = float(str(np.float32(v)))
    return short if float(np.float32(short)) == v else float(v)


def tdump(t):
    t = t.detach()
    if t._is_zerotensor():  # PyTorch's storage-less zeros (second derivative of a linear op)
        t = torch.zeros(t.shape, dtype=t.dtype)
    if t.numel() == 0:
        return {"shape": list(t.shape), "data": []}
    e = enc32 if t.dtype == torch.float32 else enc
    return {"shape": list(t.shape), "data": [e(v) for v in t.reshape(-1).tolist()]}


def normal(shape, lo=None, hi=None, grid=None):
    a = rng.standard_normal(shape) * 1.5
    if lo is not None:
        a = rng.uniform(lo, hi, shape)
    if grid:
        a = np.round(a / grid) * grid
    return a


# op name -> torch function of a list of tensors returning a list of tensors
def T(fn):
    return lambda xs, p: [fn(*xs, **p)]


OPS = {
    "neg": T(lambda x: -x),
    "abs": T(torch.abs),
    "sqrt": T(torch.sqrt),
    "square": T(torch.square),
    "exp": T(torch.exp),
    "log": T(torch.log),
    "log1p": T(torch.log1p),
    "sigmoid": T(torch.sigmoid),
    "softplus": T(F.softplus),
    "relu": T(torch.relu),
    "leaky_relu": T(lambda x, slope: F.leaky_relu(x, slope)),
    "tanh": T(torch.tanh),
    # CLIP's QuickGELU (openai/CLIP model.py): x * sigmoid(1.702 * x)
    "quick_gelu": T(lambda x: x * torch.sigmoid(1.702 * x)),
    "pow_scalar": T(lambda x, p: x ** p),
    "clamp": T(lambda x, min=None, max=None: torch.clamp(x, min=min, max=max)),
    "add": T(torch.add),
    "sub": T(torch.sub),
    "mul": T(torch.mul),
    "div": T(torch.div),
    "pow": T(torch.pow),
    "maximum": T(torch.maximum),
    "minimum": T(torch.minimum),
    "where": T(lambda c, a, b: torch.where(c != 0, a, b)),
    "add_scalar": T(lambda x, s: x + s),
    "rsub_scalar": T(lambda x, s: s - x),
    "mul_scalar": T(lambda x, s: x * s),
    "div_scalar": T(lambda x, s: x / s),
    "rdiv_scalar": T(lambda x, s: s / x),
    "sum": T(lambda x, dims=None, keepdim=False: x.sum() if dims is None else x.sum(dim=dims, keepdim=keepdim)),
    "mean": T(lambda x, dims=None, keepdim=False: x.mean() if dims is None else x.mean(dim=dims, keepdim=keepdim)),
    "max": None,  # special: values and indices
    "norm": T(lambda x, dims=None, keepdim=False: x.norm() if dims is None else x.norm(2, dim=dims, keepdim=keepdim)),
    "reshape": T(lambda x, shape: x.reshape(shape)),
    "expand": T(lambda x, shape: x.expand(*shape)),
    "permute": T(lambda x, dims: x.permute(*dims)),
    "slice": T(lambda x, dim, start, end, step: x[(slice(None),) * (dim % x.dim()) + (slice(start, end, step),)]),
    "concat": lambda xs, p: [torch.cat(xs, dim=p["dim"])],
    "chunk": lambda xs, p: list(torch.chunk(xs[0], p["chunks"], dim=p["dim"])),
    "pad": T(lambda x, pads, mode, value=0.0: F.pad(x, pads, mode=mode, value=value) if mode == "constant" else F.pad(x, pads, mode=mode)),
    # image and linear-algebra ops (image.json, linalg.json); pairs are (height, width)
    "conv2d": lambda xs, p: [F.conv2d(xs[0], xs[1], xs[2] if len(xs) > 2 else None, stride=p["stride"],
                                      padding=p["padding"], dilation=p["dilation"], groups=p["groups"])],
    "avg_pool2d": T(lambda x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override:
                    F.avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)),
    "max_pool2d": None,  # special: values and indices
    "adaptive_avg_pool2d": T(lambda x, size: F.adaptive_avg_pool2d(x, size)),
    "interpolate": T(lambda x, mode, size=None, scale_factor=None, align_corners=None:
                     F.interpolate(x, size=size, scale_factor=scale_factor, mode=mode, align_corners=align_corners)),
    "matmul": T(torch.matmul),
    "bmm": T(torch.bmm),
    "mm": T(torch.mm),
}


def run(op, xs, p):
    if op == "max":
        v, i = torch.max(xs[0], dim=p["dim"], keepdim=p.get("keepdim", False))
        return [v], i
    if op == "max_pool2d":
        v, i = F.max_pool2d(xs[0], p["kernel"], p["stride"], p["padding"], p["dilation"], p["ceil_mode"], return_indices=True)
        return [v], i
    return OPS[op](xs, p), None


LINEAR = {"neg", "add", "sub", "add_scalar", "rsub_scalar", "mul_scalar", "div_scalar", "sum", "mean",
          "reshape", "expand", "permute", "slice", "concat", "chunk", "pad", "max", "where",
          "avg_pool2d", "max_pool2d", "adaptive_avg_pool2d", "interpolate"}


def case(name, op, inputs, params=None, dtypes=("float32", "float64"), second=None, grad_mask=None, terms=None):
    params = params or {}
    if second is None:
        second = op not in LINEAR  # their second derivatives are zero; Swift checks those by differences
    cases = []
    for dt in dtypes:
        tdt = torch.float32 if dt == "float32" else torch.float64
        xs = []
        for k, a in enumerate(inputs):
            needs = grad_mask[k] if grad_mask else True
            xs.append(torch.tensor(np.asarray(a, dtype=np.float64), dtype=tdt).requires_grad_(needs))
        outs, idx = run(op, xs, params)
        gouts = [torch.tensor(normal(tuple(o.shape)), dtype=tdt) for o in outs]
        c = {"name": name, "op": op, "dtype": dt, "params": params,
             "inputs": [dict(tdump(x), grad=x.requires_grad) for x in xs],
             "outputs": [tdump(o) for o in outs], "gout": [tdump(g) for g in gouts]}
        if terms is not None:
            c["terms"] = terms  # longest sum behind any value (sets the float32 tolerance)
        if idx is not None:
            c["indices"] = idx.reshape(-1).tolist()
        if dt == "float32" and op in ("sum", "mean", "norm"):
            # PyTorch accumulates float32 sums in float32; LossKit in float64. Tests compare with
            # the float64 result on the same float32 inputs, rounded to float32.
            exact, _ = run(op, [x.detach().double() for x in xs], params)
            c["outputs_exact"] = [tdump(o.float()) for o in exact]
        diff = [x for x in xs if x.requires_grad]
        live = [(o, g) for o, g in zip(outs, gouts) if o.requires_grad]
        if diff and live:
            gs = torch.autograd.grad([o for o, _ in live], diff, [g for _, g in live],
                                     create_graph=(dt == "float64" and second), allow_unused=True)
            gs = [g if g is not None else torch.zeros_like(x) for g, x in zip(gs, diff)]
            it = iter(gs)
            c["grads"] = [tdump(next(it)) if x.requires_grad else None for x in xs]
            if dt == "float64" and second:
                ws = [torch.tensor(normal(tuple(x.shape)), dtype=tdt) for x in diff]
                s = sum((g * w).sum() for g, w in zip(gs, ws))
                if s.requires_grad:
                    hs = torch.autograd.grad(s, diff, allow_unused=True)
                    hs = [h if h is not None else torch.zeros_like(x) for h, x in zip(hs, diff)]
                else:
                    hs = [torch.zeros_like(x) for x in diff]
                it_w, it_h = iter(ws), iter(hs)
                c["second"] = {"w": [tdump(next(it_w)) if x.requires_grad else None for x in xs],
                               "grads": [tdump(next(it_h)) if x.requires_grad else None for x in xs]}
        cases.append(c)
    return cases


# Lengths that hit SIMD tails for 16 floats / 8 doubles, and broadcasting corners.
LENGTHS = [0, 1, 7, 8, 9, 15, 16, 17, 33]
BCAST = [([3, 17], [17]), ([17], [3, 17]), ([3, 1], [1, 17]), ([], [2, 9]), ([2, 9], []),
         ([4, 1, 5], [3, 1]), ([0, 3], [3]), ([2, 3, 2, 3], [3, 1, 1]), ([1, 33], [2, 1])]


def unary_cases():
    out = []
    domains = {"sqrt": (0.1, 4), "log": (0.05, 5), "log1p": (-0.9, 4)}
    for op in ["neg", "abs", "sqrt", "square", "exp", "log", "log1p", "sigmoid", "softplus", "relu", "tanh"]:
        for n in LENGTHS:
            lo, hi = domains.get(op, (None, None))
            out += case(f"{op}_{n}", op, [normal((n,), lo, hi)])
        out += case(f"{op}_2d", op, [normal((3, 5), *domains.get(op, (None, None)))])
    # softplus above its threshold of 20, sigmoid/exp far out
    out += case("softplus_wide", "softplus", [np.array([-30.0, -5, 0, 5, 19.5, 20.0, 20.5, 30])])
    out += case("sigmoid_wide", "sigmoid", [np.array([-40.0, -10, 0, 10, 40])])
    out += case("abs_zero", "abs", [np.array([0.0, -1, 1, 0])])
    out += case("relu_zero", "relu", [np.array([0.0, -1, 1, 0, -0.5])])
    for n in [1, 17, 33]:
        out += case(f"leaky_relu_{n}", "leaky_relu", [normal((n,))], {"slope": 0.2})
    for p in [2.0, 3.0, 0.5, -1.0, 1.7, 0.0, 1.0, -2.0]:
        pos = p not in (2.0, 3.0, 0.0, 1.0)
        out += case(f"pow_scalar_{p}", "pow_scalar", [normal((17,), 0.2, 3) if pos else normal((17,))], {"p": p})
    out += case("clamp_both", "clamp", [normal((33,))], {"min": -0.5, "max": 0.7})
    out += case("clamp_min", "clamp", [normal((17,))], {"min": 0.1})
    out += case("clamp_max", "clamp", [normal((17,))], {"max": 0.1})
    return out


def activation_cases():
    """Activations the network layers add (activations.json; a file of its own, so that adding
    one does not regenerate the others)."""
    out = []
    for n in LENGTHS:
        out += case(f"quick_gelu_{n}", "quick_gelu", [normal((n,))])
    out += case("quick_gelu_2d", "quick_gelu", [normal((3, 5))])
    out += case("quick_gelu_wide", "quick_gelu", [np.array([-60.0, -20, -5, -1e-3, 0, 1e-3, 5, 20, 60])])
    return out


def binary_cases():
    out = []
    for op in ["add", "sub", "mul", "div", "pow", "maximum", "minimum"]:
        shapes = [([n], [n]) for n in [0, 1, 15, 16, 17, 33]] + BCAST
        for sa, sb in shapes:
            if op == "pow":
                a, b = normal(sa, 0.3, 2.5), normal(sb, -2, 2)
            elif op == "div":
                a, b = normal(sa), normal(sb, 0.5, 3) * rng.choice([-1, 1], size=sb)
            elif op in ("maximum", "minimum"):
                a, b = normal(sa, grid=0.5), normal(sb, grid=0.5)   # ties
            else:
                a, b = normal(sa), normal(sb)
            out += case(f"{op}_{sa}_{sb}", op, [a, b])
    out += case("pow_zero_base", "pow", [np.array([0.0, 0.0, 2.0, 1.5]), np.array([2.0, 0.0, 0.0, 3.0])])
    for sc, sa, sb in [([3, 17], [3, 17], [17]), ([3, 1], [1, 17], [3, 17]), ([17], [17], []), ([2, 1, 4], [3, 1], [2, 3, 4])]:
        c = (rng.random(sc) > 0.5).astype(np.float64)
        out += case(f"where_{sc}_{sa}_{sb}", "where", [c, normal(sa), normal(sb)], grad_mask=[False, True, True])
    for op, s in [("add_scalar", 0.25), ("rsub_scalar", 1.0), ("mul_scalar", -0.5), ("div_scalar", 3.0), ("rdiv_scalar", 2.0)]:
        for n in [1, 17, 33]:
            x = normal((n,), 0.5, 3) if op == "rdiv_scalar" else normal((n,))
            out += case(f"{op}_{n}", op, [x], {"s": s})
    return out


def reduce_cases():
    out = []
    for n in LENGTHS + [100]:
        out += case(f"sum_all_{n}", "sum", [normal((n,))])
        if n > 0:
            out += case(f"mean_all_{n}", "mean", [normal((n,))])
    # more than one summation block (4096), no gradients (they are a broadcast of gout)
    out += case("sum_all_4100", "sum", [normal((4100,))], grad_mask=[False])
    shp = (2, 3, 2, 3)
    for dims in [[0], [1], [3], [-1], [0, 1], [2, 3], [1, 2, 3], [0, 2], [0, 3], [1, 3], [0, 1, 2, 3]]:
        for keep in [False, True]:
            out += case(f"sum_{dims}_{keep}", "sum", [normal(shp)], {"dims": dims, "keepdim": keep})
    for dims in [[1], [2, 3], [0, 2]]:
        out += case(f"mean_{dims}", "mean", [normal(shp)], {"dims": dims, "keepdim": False})
    out += case("sum_bcast_shape", "sum", [normal((3, 1, 17))], {"dims": [0, 1], "keepdim": True})
    out += case("sum_col_long", "sum", [normal((300, 3))], {"dims": [0], "keepdim": False}, grad_mask=[False])
    for dim in [0, 1, 2, -1]:
        for keep in [False, True]:
            out += case(f"max_{dim}_{keep}", "max", [normal((3, 4, 5), grid=0.5)], {"dim": dim, "keepdim": keep})
    out += case("max_1d", "max", [normal((17,))], {"dim": 0, "keepdim": False})
    for dims in [[1], [2, 3], [1, 2, 3]]:
        out += case(f"norm_{dims}", "norm", [normal((2, 3, 2, 3))], {"dims": dims, "keepdim": False})
    out += case("norm_keep", "norm", [normal((2, 3, 4))], {"dims": [1], "keepdim": True})
    out += case("norm_all", "norm", [normal((33,))])
    return out


def shape_cases():
    out = []
    x = lambda *s: normal(s)
    out += case("reshape", "reshape", [x(2, 3, 4)], {"shape": [4, -1]})
    out += case("expand", "expand", [x(3, 1)], {"shape": [2, 3, 17]})
    out += case("expand_scalar", "expand", [x()], {"shape": [2, 5]})
    out += case("permute", "permute", [x(2, 3, 2, 3)], {"dims": [0, 2, 3, 1]})
    out += case("permute_rev", "permute", [x(3, 17, 2)], {"dims": [2, 1, 0]})
    for (dim, st, en, step) in [(0, 1, None, 1), (1, -3, None, 1), (1, 1, 16, 3), (1, -100, 100, 2),
                                (2, None, -1, 2), (1, 5, 2, 1), (-1, 0, 5, 4), (2, 3, 3, 1)]:
        out += case(f"slice_{dim}_{st}_{en}_{step}", "slice", [x(2, 17, 5)], {"dim": dim, "start": st, "end": en, "step": step})
    out += case("concat0", "concat", [x(2, 3), x(1, 3), x(4, 3)], {"dim": 0})
    out += case("concat1", "concat", [x(2, 3, 4), x(2, 1, 4), x(2, 0, 4)], {"dim": 1})
    out += case("concat_last", "concat", [x(3, 15), x(3, 2)], {"dim": -1})
    out += case("chunk3", "chunk", [x(7, 4)], {"chunks": 3, "dim": 0})
    out += case("chunk_even", "chunk", [x(2, 6)], {"chunks": 2, "dim": 1})
    out += case("chunk_more", "chunk", [x(2, 3)], {"chunks": 5, "dim": 1})
    for mode in ["constant", "replicate", "reflect"]:
        out += case(f"pad_{mode}_2d", "pad", [x(1, 2, 4, 5)], {"pads": [1, 2, 3, 1], "mode": mode})
        out += case(f"pad_{mode}_1d", "pad", [x(1, 2, 6)], {"pads": [2, 3], "mode": mode})
    out += case("pad_constant_value", "pad", [x(2, 3)], {"pads": [1, 1], "mode": "constant", "value": 1.5})
    out += case("pad_negative", "pad", [x(1, 1, 4, 5)], {"pads": [-1, 2, 1, -2], "mode": "constant"})
    out += case("pad_constant_3d_dims", "pad", [x(2, 3, 4)], {"pads": [1, 0, 0, 2, 1, 1], "mode": "constant"})
    return out


def uniform(*shape):
    """Values in [-1, 1) exactly representable in float32 (the float32 and float64 cases then
    read the same numbers)."""
    return np.round(rng.uniform(-1, 1, shape) * 2**20) / 2**20


def image_cases():
    global rng
    rng = np.random.default_rng(20261128)   # own stream: independent of the other files
    out = []
    u = uniform
    # conv2d: (name, x, w, bias?, stride, padding, dilation, groups)
    convs = [("basic", (2, 3, 7, 9), (4, 3, 3, 3), True, (1, 1), (1, 1), (1, 1), 1),
             ("stride2_pad_dil_groups", (1, 4, 9, 10), (6, 2, 3, 2), True, (2, 2), (1, 2), (2, 1), 2),
             ("depthwise5", (1, 3, 8, 7), (3, 1, 5, 5), False, (1, 1), (2, 2), (1, 1), 3),
             ("stride23_tail", (2, 2, 8, 8), (3, 2, 3, 3), False, (2, 3), (0, 0), (1, 1), 1),
             ("pointwise", (1, 5, 4, 4), (7, 5, 1, 1), True, (1, 1), (0, 0), (1, 1), 1),
             ("sobel_like", (2, 1, 6, 5), (1, 1, 3, 3), False, (1, 1), (1, 1), (1, 1), 1),
             ("tiles", (1, 9, 5, 6), (7, 9, 3, 3), True, (1, 1), (1, 1), (1, 1), 1),   # 7 rows: past one 6-row tile
             ("depthwise_stride2_dil", (2, 4, 9, 9), (8, 1, 3, 3), True, (2, 2), (2, 2), (2, 2), 4)]
    for name, xs, ws, bias, st, pd, dl, gr in convs:
        ins = [u(*xs), u(*ws)] + ([u(ws[0])] if bias else [])
        oh = (xs[2] + 2 * pd[0] - dl[0] * (ws[2] - 1) - 1) // st[0] + 1
        ow = (xs[3] + 2 * pd[1] - dl[1] * (ws[3] - 1) - 1) // st[1] + 1
        khw = ws[2] * ws[3]
        terms = max(ws[1] * khw, ws[0] // gr * khw, xs[0] * oh * ow)
        out += case(f"conv2d_{name}", "conv2d", ins, {"stride": list(st), "padding": list(pd), "dilation": list(dl), "groups": gr}, terms=terms)
    # avg_pool2d
    for name, xs, k, st, pd, ceil, cip, div in [
            ("k3s2p1", (2, 3, 9, 8), (3, 3), (2, 2), (1, 1), False, True, None),
            ("ceil_nopad_count", (1, 2, 7, 10), (3, 2), (2, 3), (1, 1), True, False, None),
            ("ceil_count", (1, 2, 7, 10), (3, 3), (2, 2), (1, 0), True, True, None),
            ("divisor", (1, 2, 6, 7), (3, 3), (2, 2), (1, 1), False, True, 5),
            ("default_stride", (2, 1, 6, 8), (2, 2), None, (0, 0), False, True, None)]:
        out += case(f"avg_pool2d_{name}", "avg_pool2d", [u(*xs)],
                    {"kernel": list(k), "stride": list(st) if st else None, "padding": list(pd), "ceil_mode": ceil,
                     "count_include_pad": cip, "divisor_override": div}, terms=k[0] * k[1])
    # max_pool2d (values on a grid: ties keep the first maximum)
    for name, xs, k, st, pd, dl, ceil in [
            ("k3s2p1", (2, 2, 9, 8), (3, 3), (2, 2), (1, 1), (1, 1), False),
            ("dil_ceil", (1, 3, 9, 7), (3, 2), (2, 1), (1, 0), (2, 1), True),
            ("default_stride", (1, 2, 6, 6), (2, 2), None, (0, 0), (1, 1), False)]:
        x = np.round(u(*xs) * 4) / 4
        out += case(f"max_pool2d_{name}", "max_pool2d", [x],
                    {"kernel": list(k), "stride": list(st) if st else list(k), "padding": list(pd), "dilation": list(dl),
                     "ceil_mode": ceil}, terms=k[0] * k[1])
    for xs, size in [((2, 3, 7, 9), (3, 4)), ((1, 2, 5, 5), (5, 5)), ((1, 1, 6, 4), (4, 6)), ((1, 2, 5, 6), (1, 1))]:
        out += case(f"adaptive_avg_pool2d_{xs}_{size}", "adaptive_avg_pool2d", [u(*xs)], {"size": list(size)},
                    terms=max(xs[2] * xs[3], 16))
    # interpolate: (name, x, params)
    for name, xs, p in [
            ("nearest_size", (1, 2, 3, 4), {"mode": "nearest", "size": [5, 7]}),
            ("nearest_x2", (1, 2, 3, 4), {"mode": "nearest", "scale_factor": [2.0, 2.0]}),
            ("nearest_down", (1, 1, 7, 9), {"mode": "nearest", "size": [3, 4]}),
            ("nearest_1.7", (1, 2, 3, 5), {"mode": "nearest", "scale_factor": [1.7, 1.7]}),
            ("bilinear_ac_up", (2, 2, 3, 4), {"mode": "bilinear", "size": [7, 9], "align_corners": True}),
            ("bilinear_up", (2, 2, 3, 4), {"mode": "bilinear", "size": [7, 9], "align_corners": False}),
            ("bilinear_ac_down", (1, 2, 6, 5), {"mode": "bilinear", "size": [2, 3], "align_corners": True}),
            ("bilinear_down", (1, 2, 6, 5), {"mode": "bilinear", "size": [2, 3], "align_corners": False}),
            ("bilinear_ac_to1", (1, 1, 4, 4), {"mode": "bilinear", "size": [1, 1], "align_corners": True}),
            ("bilinear_scale_2.5", (1, 1, 3, 4), {"mode": "bilinear", "scale_factor": [2.5, 2.5], "align_corners": False}),
            ("bicubic_up", (1, 2, 3, 5), {"mode": "bicubic", "size": [6, 10], "align_corners": False}),
            ("bicubic_x4", (2, 1, 2, 2), {"mode": "bicubic", "size": [8, 8], "align_corners": False}),
            ("bicubic_ac_up", (1, 2, 3, 5), {"mode": "bicubic", "size": [7, 11], "align_corners": True}),
            ("bicubic_down", (1, 1, 9, 8), {"mode": "bicubic", "size": [4, 3], "align_corners": False}),
            ("bicubic_ac_down", (1, 1, 9, 8), {"mode": "bicubic", "size": [4, 3], "align_corners": True}),
            ("bicubic_scale_2.5", (1, 1, 3, 4), {"mode": "bicubic", "scale_factor": [2.5, 2.5], "align_corners": False})]:
        out += case(f"interpolate_{name}", "interpolate", [u(*xs)], p, terms=64)
    return out


def linalg_cases():
    global rng
    rng = np.random.default_rng(20261129)
    out = []
    u = uniform
    for sa, sb in [((3, 5), (5, 4)), ((17, 33), (33, 9)), ((2, 1, 3, 5), (4, 5, 2)), ((3, 4, 5), (5, 6)),
                   ((5,), (5, 4)), ((2, 3, 5), (5,)), ((5,), (5,)), ((1, 7), (7, 1)), ((2, 3, 0), (0, 4))]:
        k = sa[-1]
        m, n = (sa[-2] if len(sa) > 1 else 1), (sb[-1] if len(sb) > 1 else 1)
        reps = int(np.prod(np.broadcast_shapes(sa[:-2], sb[:-2]))) if len(sa) > 2 or len(sb) > 2 else 1
        out += case(f"matmul_{sa}_{sb}", "matmul", [u(*sa), u(*sb)], terms=max(k, m * reps, n * reps, 16))
    out += case("bmm", "bmm", [u(3, 4, 5), u(3, 5, 6)], terms=16)
    out += case("bmm_tiles", "bmm", [u(2, 13, 20), u(2, 20, 19)], terms=20)
    out += case("mm", "mm", [u(7, 9), u(9, 17)], terms=17)
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    files = [("unary", unary_cases), ("binary", binary_cases), ("reduce", reduce_cases), ("shape", shape_cases),
             ("image", image_cases), ("linalg", linalg_cases), ("activations", activation_cases)]
    only = set(sys.argv[1:])   # e.g. `image linalg`: regenerate only these files
    for name, fn in files:
        if only and name not in only:
            continue
        cases = fn()
        path = os.path.join(OUT, f"{name}.json")
        with open(path, "w") as f:
            json.dump({"generator": "scripts/gen_op_fixtures.py", "torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))
        print(f"{path}: {len(cases)} cases, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
