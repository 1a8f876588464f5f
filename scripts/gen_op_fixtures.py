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
}


def run(op, xs, p):
    if op == "max":
        v, i = torch.max(xs[0], dim=p["dim"], keepdim=p.get("keepdim", False))
        return [v], i
    return OPS[op](xs, p), None


LINEAR = {"neg", "add", "sub", "add_scalar", "rsub_scalar", "mul_scalar", "div_scalar", "sum", "mean",
          "reshape", "expand", "permute", "slice", "concat", "chunk", "pad", "max", "where"}


def case(name, op, inputs, params=None, dtypes=("float32", "float64"), second=None, grad_mask=None):
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


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, fn in [("unary", unary_cases), ("binary", binary_cases), ("reduce", reduce_cases), ("shape", shape_cases)]:
        cases = fn()
        path = os.path.join(OUT, f"{name}.json")
        with open(path, "w") as f:
            json.dump({"generator": "scripts/gen_op_fixtures.py", "torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))
        print(f"{path}: {len(cases)} cases, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
