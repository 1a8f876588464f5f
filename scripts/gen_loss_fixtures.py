#!/usr/bin/env python3
"""Generate reference fixtures for losscli's non-network losses from MMagic's own code.

Every value in fixtures/losses/*.json is computed by MMagic 1.2.0's loss classes (the
PyPI wheel, loaded through /work/shared/oracle/mmoracle.py) under PyTorch on the CPU:
forward output and autograd gradients w.r.t. every floating-point input. The schema is
documented in docs/fixtures.md.

Run with the oracle python (needs torch; CI never runs this):

    /tmp/oracle/venv/bin/python scripts/gen_loss_fixtures.py [--out fixtures/losses]

The output is deterministic: fixed NumPy seeds, one torch thread.
"""
import argparse
import json
import os
import sys

import numpy as np

ORACLE_DIR = os.environ.get("MMORACLE_DIR", "/work/shared/oracle")
SHORT = {"float32": "f32", "float64": "f64"}
torch = L = GENERATOR = DTYPES = None  # set by load_oracle(); --verify needs NumPy only


def load_oracle():
    global torch, L, GENERATOR, DTYPES
    sys.path.insert(0, ORACLE_DIR)
    import torch as _torch
    import mmoracle
    torch = _torch
    torch.set_num_threads(1)  # reductions in one fixed order, so reruns are byte-identical
    L = mmoracle.load()
    GENERATOR = ("scripts/gen_loss_fixtures.py; MMagic 1.2.0 (PyPI wheel, mmagic/models/losses) "
                 f"via mmoracle; torch {torch.__version__}; numpy {np.__version__}; CPU, 1 thread")
    DTYPES = {"float32": torch.float32, "float64": torch.float64}


# ----------------------------------------------------------------------------- encoding

def enc(t):
    """A tensor as {"shape", "data"}: flat C-order values; json writes Python float repr,
    which round-trips the (float32-or-float64) value exactly."""
    t = t.detach().contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def enc_tree(v):
    if isinstance(v, (list, tuple)):
        return [enc(x) for x in v]
    return enc(v)


# ----------------------------------------------------------------------------- running

class Family:
    """Cases of one output file."""

    def __init__(self, name, seed):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.cases = []
        self.ids = set()

    def add(self, id_, type_, params, args, dtype, inputs, call, requires_grad=None):
        """Run one MMagic forward + backward and record it.

        inputs: name -> np.ndarray or list of np.ndarray (list-valued forward argument).
        call(tensors) -> output tensor; tensors has the same structure as inputs.
        requires_grad: names of inputs that get requires_grad=True (default: all).
        """
        assert id_ not in self.ids, id_
        self.ids.add(id_)
        tdt = DTYPES[dtype]
        if requires_grad is None:
            requires_grad = list(inputs)
        tensors = {}
        for k, v in inputs.items():
            rg = k in requires_grad
            if isinstance(v, list):
                tensors[k] = [torch.tensor(a, dtype=tdt).requires_grad_(rg) for a in v]
            else:
                tensors[k] = torch.tensor(v, dtype=tdt).requires_grad_(rg)
        out = call(tensors)
        assert isinstance(out, torch.Tensor) and out.dtype == tdt, (id_, type(out), out)
        flat = []
        for k in requires_grad:
            v = tensors[k]
            flat.extend(v if isinstance(v, list) else [v])
        if out.dim() == 0:
            cot = None
            gr = torch.autograd.grad(out, flat, allow_unused=True)
        else:
            cot = torch.tensor(self.rng.standard_normal(tuple(out.shape)), dtype=tdt)
            gr = torch.autograd.grad(out, flat, grad_outputs=cot, allow_unused=True)
        gr = [torch.zeros_like(x) if g is None else g for x, g in zip(flat, gr)]
        grads, i = {}, 0
        for k in requires_grad:
            v = tensors[k]
            if isinstance(v, list):
                grads[k] = [enc(g) for g in gr[i:i + len(v)]]
                i += len(v)
            else:
                grads[k] = enc(gr[i])
                i += 1
        for k, v in grads.items():
            for g in (v if isinstance(v, list) else [v]):
                assert all(np.isfinite(g["data"])), (id_, k)
        self.cases.append({
            "id": id_,
            "type": type_,
            "params": params,
            "args": args,
            "dtype": dtype,
            "inputs": {k: enc_tree(v) for k, v in tensors.items()},
            "requires_grad": list(requires_grad),
            "output": enc(out),
            "cotangent": None if cot is None else enc(cot),
            "grads": grads,
        })

    def write(self, outdir):
        path = os.path.join(outdir, self.name + ".json")
        with open(path, "w") as f:
            # allow_nan=False: strict JSON (a Swift decoder rejects NaN and Infinity)
            json.dump({"generator": GENERATOR, "cases": self.cases}, f, separators=(",", ":"),
                      allow_nan=False)
            f.write("\n")
        return path, len(self.cases)


def module_call(type_, params, **args):
    """call(tensors) for a registered MMagic class: type_(**params)(**tensors, **args)."""
    def call(t):
        return getattr(L, type_)(**params)(**t, **args)
    return call


# ----------------------------------------------------------------------------- random data

def odd(rng, lo=1, hi=7):
    return int(rng.choice([v for v in range(lo, hi + 1) if v % 2 == 1]))


def normal(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def weights(rng, shape, binary, dtype):
    """Non-negative weights; binary ones are 0/1 with at least one 1 per sample."""
    if binary:
        w = (rng.random(shape) < 0.6).astype(dtype)
        w.reshape(shape[0], -1)[:, 0] = 1
        return w
    return rng.random(shape).astype(dtype) * 2


def tie_some(rng, pred, target, frac=0.15):
    """Copy a few pred values into target: |p - t| = 0 hits the subgradient convention
    (PyTorch: sign(0) = 0) of L1 and the eps floor of Charbonnier."""
    m = rng.random(pred.shape) < frac
    target = target.copy()
    target[m] = pred[m]
    return target


# ----------------------------------------------------------------------------- pixelwise

def gen_pixelwise():
    fam = Family("pixelwise", 101)
    rng = fam.rng
    k = 0
    for dtype in ("float32", "float64"):
        npdt = np.dtype(dtype)
        for type_ in ("L1Loss", "MSELoss", "CharbonnierLoss"):
            for reduction in ("none", "mean", "sum"):
                for sw in (False, True):
                    for wmode in ("none", "c1", "cC"):
                        k += 1
                        n, c = int(rng.integers(1, 4)), int(rng.integers(2, 4))
                        h, w = odd(rng, 1, 5), odd(rng, 3, 5)
                        shape = (n, c, h, w)
                        pred = normal(rng, shape, npdt)
                        target = tie_some(rng, pred, normal(rng, shape, npdt))
                        inputs = {"pred": pred, "target": target}
                        if wmode != "none":
                            wshape = (n, 1 if wmode == "c1" else c, h, w)
                            binary = k % 2 == 0
                            wt = weights(rng, wshape, binary, npdt)
                            if binary and sw and n > 1 and k % 4 == 0:
                                wt[-1] = 0  # an all-zero sample: 0 / (0 + 1e-12) = 0
                            inputs["weight"] = wt
                        params = {}
                        if k % 3:
                            params["loss_weight"] = float(np.round(rng.uniform(0.1, 3.0), 3))
                        if reduction != "mean" or k % 2:
                            params["reduction"] = reduction
                        if sw:
                            params["sample_wise"] = True
                        if type_ == "CharbonnierLoss" and k % 2:
                            params["eps"] = [1e-3, 1e-6, 0.25][k % 3]
                        id_ = f"{type_}/{reduction}/sw{int(sw)}/w-{wmode}/{SHORT[dtype]}/{k}"
                        fam.add(id_, type_, params, {}, dtype, inputs, module_call(type_, params))
        # The pixel losses on the 2-D/5-D tensors MMagic accepts (rank-agnostic without weight).
        for type_, shape in (("L1Loss", (3, 5)), ("MSELoss", (2, 1, 3, 1, 3)),
                             ("CharbonnierLoss", (7,))):
            k += 1
            pred = normal(rng, shape, npdt)
            params = {"loss_weight": 1.5}
            fam.add(f"{type_}/mean/rank{len(shape)}/{SHORT[dtype]}/{k}", type_, params, {}, dtype,
                    {"pred": pred, "target": normal(rng, shape, npdt)}, module_call(type_, params))

        # MaskedTVLoss: L1 on vertical and horizontal neighbours, masked.
        for mc, binary, lw in (("c1", True, None), ("c1", False, 0.7), ("cC", True, 2.0),
                               ("cC", False, None), ("c1", True, 1.3)):
            k += 1
            n, c = int(rng.integers(1, 4)), int(rng.integers(1, 4))
            h, w = odd(rng, 3, 5), odd(rng, 3, 5)
            pred = normal(rng, (n, c, h, w), npdt)
            mask = weights(rng, (n, 1 if mc == "c1" else c, h, w), binary, npdt)
            params = {} if lw is None else {"loss_weight": lw}
            fam.add(f"MaskedTVLoss/mask-{mc}/{'bin' if binary else 'real'}/{SHORT[dtype]}/{k}",
                    "MaskedTVLoss", params, {}, dtype, {"pred": pred, "mask": mask},
                    module_call("MaskedTVLoss", params))

        # A single row: no vertical neighbours, so that half is 0 / (0 + 1e-12) = 0.
        k += 1
        fam.add(f"MaskedTVLoss/h1/{SHORT[dtype]}/{k}", "MaskedTVLoss", {"loss_weight": 1.5}, {},
                dtype, {"pred": normal(rng, (2, 2, 1, 5), npdt),
                        "mask": weights(rng, (2, 1, 1, 5), False, npdt)},
                module_call("MaskedTVLoss", {"loss_weight": 1.5}))

        # PSNRLoss (toY is stored but unused by MMagic).
        for lw, toy, same in ((None, None, False), (0.5, None, False), (None, True, False),
                              (2.0, None, True)):
            k += 1
            n, c = int(rng.integers(1, 4)), int(rng.integers(1, 4))
            h, w = odd(rng, 1, 5), odd(rng, 3, 5)
            pred = normal(rng, (n, c, h, w), npdt)
            target = normal(rng, (n, c, h, w), npdt)
            if same:
                target[0] = pred[0]  # one sample with zero error: log(0 + 1e-8)
            params = {}
            if lw is not None:
                params["loss_weight"] = lw
            if toy is not None:
                params["toY"] = toy
            tag = "same0" if same else ("toY" if toy else "plain")
            fam.add(f"PSNRLoss/{tag}/{SHORT[dtype]}/{k}", "PSNRLoss", params, {}, dtype,
                    {"pred": pred, "target": target}, module_call("PSNRLoss", params))

        # tv_loss (function) as "TVLoss": a tensor of N values.
        for fixed in (None, None, None, (1, 2, 1, 5), (2, 1, 3, 1)):
            k += 1
            n, c = int(rng.integers(1, 4)), int(rng.integers(1, 4))
            h, w = odd(rng), odd(rng)
            if fixed:
                n, c, h, w = fixed
            x = normal(rng, (n, c, h, w), npdt)
            fam.add(f"TVLoss/{n}x{c}x{h}x{w}/{SHORT[dtype]}/{k}", "TVLoss", {}, {}, dtype,
                    {"input": x}, lambda t: L.tv_loss(**t))
    return fam


# ----------------------------------------------------------------------------- composition

def gen_composition():
    fam = Family("composition", 202)
    rng = fam.rng
    k = 0
    for dtype in ("float32", "float64"):
        npdt = np.dtype(dtype)
        for type_ in ("L1CompositionLoss", "MSECompositionLoss", "CharbonnierCompLoss"):
            for reduction in ("none", "mean", "sum"):
                for sw in (False, True):
                    for wmode in ("none", "c1"):
                        k += 1
                        n = int(rng.integers(1, 3)) if k % 6 else 3
                        h, w = odd(rng, 1, 3), odd(rng, 3, 5)
                        alpha = rng.random((n, 1, h, w)).astype(npdt)
                        fg = rng.random((n, 3, h, w)).astype(npdt)
                        bg = rng.random((n, 3, h, w)).astype(npdt)
                        ori = rng.random((n, 3, h, w)).astype(npdt)
                        inputs = {"pred_alpha": alpha, "fg": fg, "bg": bg, "ori_merged": ori}
                        if wmode == "c1":
                            inputs["weight"] = weights(rng, (n, 1, h, w), k % 2 == 0, npdt)
                        params = {}
                        if k % 3:
                            params["loss_weight"] = float(np.round(rng.uniform(0.1, 3.0), 3))
                        if reduction != "mean" or k % 2:
                            params["reduction"] = reduction
                        if sw:
                            params["sample_wise"] = True
                        if type_ == "CharbonnierCompLoss" and k % 2:
                            params["eps"] = [1e-3, 1e-6, 0.25][k % 3]
                        id_ = f"{type_}/{reduction}/sw{int(sw)}/w-{wmode}/{SHORT[dtype]}/{k}"
                        fam.add(id_, type_, params, {}, dtype, inputs, module_call(type_, params))
        # A 3-channel weight (expand(-1, 3, ...) leaves it as is) and alpha outside [0, 1].
        for type_ in ("L1CompositionLoss", "MSECompositionLoss", "CharbonnierCompLoss"):
            k += 1
            n, h, w = 2, 3, 3
            inputs = {"pred_alpha": rng.uniform(-0.5, 1.5, (n, 1, h, w)).astype(npdt),
                      "fg": rng.random((n, 3, h, w)).astype(npdt),
                      "bg": rng.random((n, 3, h, w)).astype(npdt),
                      "ori_merged": rng.random((n, 3, h, w)).astype(npdt),
                      "weight": weights(rng, (n, 3, h, w), False, npdt)}
            params = {"reduction": "mean", "sample_wise": True}
            fam.add(f"{type_}/mean/sw1/w-c3/{SHORT[dtype]}/{k}", type_, params, {}, dtype,
                    inputs, module_call(type_, params))
    return fam


# ----------------------------------------------------------------------------- gradient

def gen_gradient():
    fam = Family("gradient", 303)
    rng = fam.rng
    k = 0
    for dtype in ("float32", "float64"):
        npdt = np.dtype(dtype)
        for reduction in ("none", "mean", "sum"):
            for wmode in ("none", "c1"):
                for rep in range(2):
                    k += 1
                    n = int(rng.integers(1, 4))
                    h, w = odd(rng, 1, 5), odd(rng, 3, 7)
                    pred = normal(rng, (n, 1, h, w), npdt)
                    target = normal(rng, (n, 1, h, w), npdt)
                    if rep:
                        target = tie_some(rng, pred, target, 0.3)
                    inputs = {"pred": pred, "target": target}
                    if wmode == "c1":
                        inputs["weight"] = weights(rng, (n, 1, h, w), rep == 0, npdt)
                    params = {}
                    if k % 3:
                        params["loss_weight"] = float(np.round(rng.uniform(0.1, 3.0), 3))
                    if reduction != "mean" or k % 2:
                        params["reduction"] = reduction
                    fam.add(f"GradientLoss/{reduction}/w-{wmode}/{SHORT[dtype]}/{k}",
                            "GradientLoss", params, {}, dtype, inputs,
                            module_call("GradientLoss", params))
    return fam


# ----------------------------------------------------------------------------- GAN

def gan_input(rng, shape, npdt, gan_type):
    """Random logits with a few exact values on the kinks: 0 and +-1 (hinge's relu,
    l1's abs), and large magnitudes (BCE's stable form, softplus' threshold 20)."""
    x = (rng.standard_normal(shape) * 1.5).astype(npdt)
    flat = x.reshape(-1)
    specials = {"hinge": [1.0, -1.0, 0.0], "l1": [1.0, 0.0], "lsgan": [1.0],
                "vanilla": [30.0, -30.0, 0.0], "wgan-logistic-ns": [25.0, -25.0, 20.5, -20.5]}
    for i, v in enumerate(specials.get(gan_type, [])):
        if i < flat.size - 1:
            flat[(i * 7 + 1) % flat.size] = v
    return x


def gen_gan():
    fam = Family("gan", 404)
    rng = fam.rng
    k = 0
    for dtype in ("float32", "float64"):
        npdt = np.dtype(dtype)
        for gan_type in ("vanilla", "lsgan", "wgan", "hinge", "l1"):
            for labels in ("default", "custom"):
                for is_disc in (True, False):
                    for real in (True, False):
                        k += 1
                        if labels == "default":
                            params = {"gan_type": gan_type}
                            if not is_disc:
                                params["loss_weight"] = 2.0  # ignored for the discriminator
                        else:
                            params = {"gan_type": gan_type, "real_label_val": 0.9,
                                      "fake_label_val": 0.2, "loss_weight": 0.5}
                        if k % 3 == 0:
                            shape = (int(rng.integers(1, 4)), 1)
                        else:
                            shape = (int(rng.integers(1, 4)), int(rng.integers(1, 3)),
                                     odd(rng, 1, 5), odd(rng, 1, 5))
                        args = {"target_is_real": real, "is_disc": is_disc}
                        id_ = (f"GANLoss/{gan_type}/{'disc' if is_disc else 'gen'}/"
                               f"{'real' if real else 'fake'}/{labels}/{SHORT[dtype]}/{k}")
                        fam.add(id_, "GANLoss", params, args, dtype,
                                {"input": gan_input(rng, shape, npdt, gan_type)},
                                module_call("GANLoss", params, **args))
        # smgan: mask required; input resized (bilinear, align_corners) when its H,W differ.
        smgan_shapes = [
            # (input shape, mask shape, tag)
            ((1, 1, 5, 5), (1, 1, 5, 5), "same"),
            ((2, 2, 3, 5), (2, 2, 3, 5), "same"),
            ((1, 1, 3, 3), (1, 1, 5, 7), "up"),
            ((2, 1, 7, 5), (2, 1, 3, 3), "down"),
            ((1, 2, 3, 5), (1, 2, 5, 3), "mixed"),
            ((2, 2, 5, 5), (2, 1, 5, 5), "mask-c1-bcast"),
        ]
        for (ishape, mshape, tag) in smgan_shapes:
            for is_disc in (True, False):
                for real in (True, False):
                    k += 1
                    params = {"gan_type": "smgan"}
                    if k % 2:
                        params["loss_weight"] = 2.0
                    if k % 3 == 0:
                        params["real_label_val"] = 0.9
                        params["fake_label_val"] = 0.1
                    mask = weights(rng, mshape, k % 2 == 0, npdt)
                    args = {"target_is_real": real, "is_disc": is_disc}
                    id_ = (f"GANLoss/smgan/{'disc' if is_disc else 'gen'}/"
                           f"{'real' if real else 'fake'}/{tag}/{SHORT[dtype]}/{k}")
                    fam.add(id_, "GANLoss", params, args, dtype,
                            {"input": gan_input(rng, ishape, npdt, "smgan"), "mask": mask},
                            module_call("GANLoss", params, **args))
        # A mask passed to a non-smgan type is ignored (its gradient is zero).
        k += 1
        params = {"gan_type": "lsgan", "loss_weight": 3.0}
        args = {"target_is_real": True, "is_disc": False}
        fam.add(f"GANLoss/lsgan/gen/real/mask-ignored/{SHORT[dtype]}/{k}", "GANLoss", params,
                args, dtype, {"input": gan_input(rng, (2, 1, 3, 3), npdt, "lsgan"),
                              "mask": weights(rng, (2, 1, 3, 3), True, npdt)},
                module_call("GANLoss", params, **args))
    return fam


def gen_gan_comps():
    fam = Family("gan_comps", 505)
    rng = fam.rng
    k = 0
    for dtype in ("float32", "float64"):
        npdt = np.dtype(dtype)
        for gan_type in ("vanilla", "lsgan", "wgan", "hinge", "wgan-logistic-ns"):
            for labels in ("default", "custom"):
                for is_disc in (True, False):
                    for real in (True, False):
                        k += 1
                        if labels == "default":
                            params = {"gan_type": gan_type}
                            if not is_disc:
                                params["loss_weight"] = 2.0
                        else:
                            params = {"gan_type": gan_type, "real_label_val": 0.8,
                                      "fake_label_val": -0.3, "loss_weight": 0.25}
                        if k % 3 == 0:
                            shape = (int(rng.integers(1, 4)), 1)
                        else:
                            shape = (int(rng.integers(1, 4)), int(rng.integers(1, 3)),
                                     odd(rng, 1, 5), odd(rng, 1, 5))
                        args = {"target_is_real": real, "is_disc": is_disc}
                        id_ = (f"GANLossComps/{gan_type}/{'disc' if is_disc else 'gen'}/"
                               f"{'real' if real else 'fake'}/{labels}/{SHORT[dtype]}/{k}")
                        fam.add(id_, "GANLossComps", params, args, dtype,
                                {"input": gan_input(rng, shape, npdt, gan_type)},
                                module_call("GANLossComps", params, **args))
    return fam


# ----------------------------------------------------------------------------- disc aux

def gen_disc_aux():
    fam = Family("disc_aux", 606)
    rng = fam.rng
    k = 0
    for dtype in ("float32", "float64"):
        npdt = np.dtype(dtype)
        for lw, shape in ((None, (2, 1)), (0.3, (2, 3, 3, 5)), (None, (1, 2, 5, 3)),
                          (1.7, (3, 7))):
            k += 1
            params = {} if lw is None else {"loss_weight": lw}
            fam.add(f"DiscShiftLoss/{'x'.join(map(str, shape))}/{SHORT[dtype]}/{k}",
                    "DiscShiftLoss", params, {}, dtype, {"x": normal(rng, shape, npdt)},
                    module_call("DiscShiftLoss", params))
        for lw, shape in ((None, (2, 10)), (0.1, (2, 1, 3, 3)), (0.001, (3, 1)), (2.5, (4,))):
            k += 1
            params = {} if lw is None else {"loss_weight": lw}
            fam.add(f"DiscShiftLossComps/{'x'.join(map(str, shape))}/{SHORT[dtype]}/{k}",
                    "DiscShiftLossComps", params, {}, dtype, {"pred": normal(rng, shape, npdt)},
                    module_call("DiscShiftLossComps", params))
    return fam


# ----------------------------------------------------------------------------- transferal

def gen_transferal():
    fam = Family("transferal", 707)
    rng = fam.rng
    k = 0
    configs = [
        # (params, n, (h, w), channels per level, tag)
        ({}, 1, (2, 3), (2, 2, 1), "att/mse/3lvl"),
        ({"criterion": "l1"}, 2, (2, 2), (2, 1, 1), "att/l1/3lvl"),
        ({"use_attention": False}, 2, (1, 3), (2, 2, 1), "noatt/mse/3lvl"),
        ({"use_attention": False, "criterion": "l1", "loss_weight": 0.7}, 1, (3, 1), (1, 2, 1),
         "noatt/l1/3lvl"),
        ({"use_attention": False, "loss_weight": 2.0}, 1, (1, 2), (2, 1, 1, 1),
         "noatt/mse/4lvl-zip"),
        ({"use_attention": True, "loss_weight": 1.5}, 1, (1, 2), (1, 1, 1, 1), "att/mse/4lvl"),
        ({"criterion": "L1"}, 2, (3, 2), (3, 1), "att/L1-upper/2lvl"),
        ({"use_attention": True, "criterion": "mse", "loss_weight": 0.5}, 1, (3, 3), (2,),
         "att/mse/1lvl"),
    ]
    for dtype in ("float32", "float64"):
        npdt = np.dtype(dtype)
        for params, n, (h, w), chans, tag in configs:
            k += 1
            shapes = [(n, c, h * 2 ** i, w * 2 ** i) for i, c in enumerate(chans)]
            maps = [rng.random(s).astype(npdt) for s in shapes]
            textures = [rng.random(s).astype(npdt) for s in shapes]
            tie = rng.random(maps[0].shape) < 0.1  # ties for l1's subgradient
            textures[0][tie] = maps[0][tie]
            soft = normal(rng, (n, 1, h, w), npdt)
            fam.add(f"TransferalPerceptualLoss/{tag}/{SHORT[dtype]}/{k}",
                    "TransferalPerceptualLoss", params, {}, dtype,
                    {"maps": maps, "soft_attention": soft, "textures": textures},
                    module_call("TransferalPerceptualLoss", params))
    return fam


# ----------------------------------------------------------------------------- errors

def gen_errors():
    """Inputs MMagic rejects; the recorded error is what MMagic 1.2.0 actually raises."""
    cases = []

    def err(id_, type_, params, args, input_shapes, call, note=None, dtype="float32"):
        tdt = DTYPES[dtype]
        tensors = {}
        for name, s in input_shapes.items():
            if s is None:
                tensors[name] = None
            elif isinstance(s[0], list):
                tensors[name] = [torch.rand(*x, dtype=tdt) for x in s]
            else:
                tensors[name] = torch.rand(*s, dtype=tdt)
        try:
            out = call(params, tensors, args)
        except Exception as e:  # noqa: BLE001 - we record whatever MMagic raises
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
            case = {"id": id_, "type": type_, "params": params, "args": args, "dtype": dtype,
                    "input_shapes": input_shapes,
                    "error": f"{type(e).__name__}: {msg}" if msg else type(e).__name__}
            if note:
                case["note"] = note
            cases.append(case)
            return
        raise AssertionError(f"{id_}: MMagic did not raise (got {out})")

    def mod(type_):
        return lambda p, t, a: getattr(L, type_)(**p)(**t, **a)

    for t in ("L1Loss", "MSELoss", "CharbonnierLoss", "L1CompositionLoss",
              "MSECompositionLoss", "CharbonnierCompLoss", "GradientLoss"):
        err(f"{t}/bad-reduction", t, {"reduction": "InvalidValue"}, {}, {}, mod(t),
            "raised by the constructor")
    err("L1Loss/bad-reduction-case", "L1Loss", {"reduction": "Mean"}, {}, {}, mod("L1Loss"),
        "reduction is case-sensitive")
    for t in ("GANLoss", "GANLossComps"):
        err(f"{t}/bad-gan-type", t, {"gan_type": "xixihaha"}, {}, {}, mod(t),
            "raised by the constructor")
    err("GANLossComps/smgan-unsupported", "GANLossComps", {"gan_type": "smgan"}, {}, {},
        mod("GANLossComps"), "GANLossComps has no smgan")
    err("GANLossComps/l1-unsupported", "GANLossComps", {"gan_type": "l1"}, {}, {},
        mod("GANLossComps"), "GANLossComps has no l1")
    err("GANLoss/wgan-logistic-ns-unsupported", "GANLoss", {"gan_type": "wgan-logistic-ns"}, {},
        {}, mod("GANLoss"), "GANLoss has no wgan-logistic-ns")
    err("TransferalPerceptualLoss/bad-criterion", "TransferalPerceptualLoss",
        {"criterion": "l2"}, {}, {}, mod("TransferalPerceptualLoss"), "raised by the constructor")
    err("GANLoss/smgan-no-mask", "GANLoss", {"gan_type": "smgan"},
        {"target_is_real": True, "is_disc": False}, {"input": [1, 1, 4, 4]}, mod("GANLoss"),
        "mask defaults to None and MMagic reads mask.shape")
    err("GradientLoss/c3", "GradientLoss", {}, {}, {"pred": [1, 3, 5, 5], "target": [1, 3, 5, 5]},
        mod("GradientLoss"), "the Sobel kernel has one input channel: conv2d rejects C != 1")
    err("GradientLoss/sample-wise-param", "GradientLoss", {"sample_wise": True}, {}, {},
        mod("GradientLoss"), "GradientLoss takes no sample_wise")
    err("L1Loss/weight-channel-mismatch", "L1Loss", {}, {},
        {"pred": [1, 3, 4, 4], "target": [1, 3, 4, 4], "weight": [1, 2, 4, 4]}, mod("L1Loss"),
        "assert weight.size(1) == 1 or weight.size(1) == loss.size(1)")
    err("MSELoss/weight-rank-mismatch", "MSELoss", {}, {},
        {"pred": [1, 3, 4, 4], "target": [1, 3, 4, 4], "weight": [4, 4]}, mod("MSELoss"),
        "assert weight.dim() == loss.dim()")
    err("L1CompositionLoss/weight-channel-mismatch", "L1CompositionLoss", {}, {},
        {"pred_alpha": [1, 1, 3, 3], "fg": [1, 3, 3, 3], "bg": [1, 3, 3, 3],
         "ori_merged": [1, 3, 3, 3], "weight": [1, 2, 3, 3]}, mod("L1CompositionLoss"),
        "weight.expand(-1, 3, -1, -1) needs 1 or 3 channels")
    err("L1Loss/shape-mismatch", "L1Loss", {}, {},
        {"pred": [1, 3, 4, 4], "target": [1, 3, 2, 2]}, mod("L1Loss"),
        "shapes that do not broadcast")
    err("PSNRLoss/rank3", "PSNRLoss", {}, {}, {"pred": [3, 4, 4], "target": [3, 4, 4]},
        mod("PSNRLoss"), "assert len(pred.size()) == 4")
    err("PSNRLoss/rank5", "PSNRLoss", {}, {}, {"pred": [1, 1, 3, 4, 4], "target": [1, 1, 3, 4, 4]},
        mod("PSNRLoss"), "assert len(pred.size()) == 4")
    err("MaskedTVLoss/no-mask", "MaskedTVLoss", {}, {}, {"pred": [1, 1, 4, 4]},
        mod("MaskedTVLoss"), "mask defaults to None and MMagic slices it")
    err("TVLoss/rank3", "TVLoss", {}, {}, {"input": [3, 4, 4]},
        lambda p, t, a: L.tv_loss(**t), "mean over dims [1, 2, 3] needs rank 4")
    err("TransferalPerceptualLoss/map-texture-mismatch", "TransferalPerceptualLoss", {}, {},
        {"maps": [[1, 2, 2, 2], [1, 2, 4, 4]], "soft_attention": [1, 1, 2, 2],
         "textures": [[1, 2, 2, 2], [1, 2, 3, 3]]}, mod("TransferalPerceptualLoss"),
        "map and texture of a level must have the same shape")
    err("TransferalPerceptualLoss/att-wrong-size", "TransferalPerceptualLoss", {}, {},
        {"maps": [[1, 2, 2, 2], [1, 2, 5, 5]], "soft_attention": [1, 1, 2, 2],
         "textures": [[1, 2, 2, 2], [1, 2, 5, 5]]}, mod("TransferalPerceptualLoss"),
        "with attention, level i must be (h*2^i, w*2^i)")
    return cases


# ----------------------------------------------------------------------------- verify
# An independent NumPy (float64) restatement of the formulas in /work/shared/spec/losses.md,
# used only to cross-check the fixtures: forward values of every case, and finite-difference
# gradients of every float64 case. It shares no code with MMagic or PyTorch.

def _np_reduce(e, w, reduction, sw):
    if w is not None:
        e = e * w
    if w is None or reduction == "sum":
        return {"none": e, "mean": e.mean(), "sum": e.sum()}[reduction]
    if reduction == "mean":
        wf = np.broadcast_to(w, e.shape)
        if sw:
            ws = wf.sum(axis=tuple(range(1, e.ndim)), keepdims=True)
            return (e / (ws + 1e-12)).sum() / e.shape[0]
        return e.sum() / (wf.sum() + 1e-12)
    return e


def _np_elementwise(kind, d, eps):
    if kind == "l1":
        return np.abs(d)
    if kind == "mse":
        return d * d
    return np.sqrt(d * d + eps)


def _np_bilinear_ac(x, ho, wo):
    """F.interpolate(mode='bilinear', align_corners=True)."""
    def axis_weights(n_in, n_out):
        m = np.zeros((n_out, n_in))
        for i in range(n_out):
            src = i * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
            i0 = int(np.floor(src))
            i1 = min(i0 + 1, n_in - 1)
            t = src - i0
            m[i, i0] += 1 - t
            m[i, i1] += t
        return m
    mh, mw = axis_weights(x.shape[2], ho), axis_weights(x.shape[3], wo)
    return np.einsum("ah,nchw,bw->ncab", mh, x, mw)


def _np_bicubic(x, ho, wo, a=-0.75):
    """F.interpolate(mode='bicubic', align_corners=False): A = -0.75, clamped taps."""
    def cubic(t):
        t = abs(t)
        if t <= 1:
            return ((a + 2) * t - (a + 3)) * t * t + 1
        if t < 2:
            return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
        return 0.0

    def axis_weights(n_in, n_out):
        m = np.zeros((n_out, n_in))
        scale = n_in / n_out
        for i in range(n_out):
            src = (i + 0.5) * scale - 0.5
            i0 = int(np.floor(src))
            t = src - i0
            for k in range(-1, 3):
                m[i, min(max(i0 + k, 0), n_in - 1)] += cubic(k - t)
        return m
    mh, mw = axis_weights(x.shape[2], ho), axis_weights(x.shape[3], wo)
    return np.einsum("ah,nchw,bw->ncab", mh, x, mw)


# torch's float32 sum of the 71 float32 taps exp(-(i-35)^2/200) (observed; the correctly
# rounded sum is 25.05668067932129, one ulp away). With it the kernel below is bit-identical
# to MMagic's GaussianBlur().kernel.
TORCH_F32_TAP_SUM = 25.056678771972656


def _np_gaussian_blur(m):
    """MMagic's GaussianBlur: 71x71, sigma 10, zero padding 35, per channel. The kernel is
    built in float32 (torch.tensor of Python floats; exp correctly rounded to float32, taps
    divided by their float32 sum, outer product rounded to float32) whatever the input dtype,
    then cast to it."""
    arg = np.array([-(i - 35) ** 2 / 200.0 for i in range(71)]).astype(np.float32)
    g = np.exp(arg.astype(np.float64)).astype(np.float32)
    g = (g / np.float32(TORCH_F32_TAP_SUM)).astype(np.float32)
    k = np.outer(g, g).astype(np.float32).astype(np.float64)
    n, c, h, w = m.shape
    p = np.zeros((n, c, h + 70, w + 70))
    p[:, :, 35:35 + h, 35:35 + w] = m
    out = np.zeros((n, c, h, w))
    for i in range(h):
        for j in range(w):
            out[:, :, i, j] = (p[:, :, i:i + 71, j:j + 71] * k).sum(axis=(2, 3))
    return out


def _np_sobel(x):
    kx = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64)
    ky = kx.T.copy()
    n, c, h, w = x.shape
    p = np.zeros((n, c, h + 2, w + 2))
    p[:, :, 1:-1, 1:-1] = x
    gx, gy = np.zeros_like(x), np.zeros_like(x)
    for di in range(3):
        for dj in range(3):
            win = p[:, :, di:di + h, dj:dj + w]
            gx += kx[di, dj] * win
            gy += ky[di, dj] * win
    return gx, gy


def _np_gan(gan_type, p, args, x, mask=None):
    real, disc = args["target_is_real"], args.get("is_disc", False)
    w = p.get("loss_weight", 1.0)
    lab = p.get("real_label_val", 1.0) if real else p.get("fake_label_val", 0.0)
    if gan_type == "vanilla":
        loss = np.mean(np.maximum(x, 0) - x * lab + np.log1p(np.exp(-np.abs(x))))
    elif gan_type in ("lsgan",):
        loss = np.mean((x - lab) ** 2)
    elif gan_type == "l1":
        loss = np.mean(np.abs(x - lab))
    elif gan_type == "wgan":
        loss = -x.mean() if real else x.mean()
    elif gan_type == "wgan-logistic-ns":
        z = -x if real else x
        loss = np.mean(np.where(z > 20, z, np.log1p(np.exp(np.minimum(z, 20)))))
    elif gan_type == "hinge":
        if disc:
            loss = np.mean(np.maximum(0, 1 + (-x if real else x)))
        else:
            loss = -x.mean()
    elif gan_type == "smgan":
        if x.shape[2:] != mask.shape[2:]:
            x = _np_bilinear_ac(x, *mask.shape[2:])
        if disc:
            tgt = lab if real else _np_gaussian_blur(mask)
            loss = np.mean((x - tgt) ** 2)
        else:
            # MMagic: nn.MSELoss() (mean) * mask / mask.mean(), then mean: the mask cancels.
            loss = np.mean(np.mean((x - lab) ** 2) * mask / mask.mean())
    else:
        raise KeyError(gan_type)
    return loss if disc else loss * w


def np_forward(case, t):
    """The fixture's output, recomputed from its inputs t (name -> ndarray or list)."""
    ty, p = case["type"], case["params"]
    red, sw, w = p.get("reduction", "mean"), p.get("sample_wise", False), p.get("loss_weight", 1.0)
    pix = {"L1Loss": "l1", "MSELoss": "mse", "CharbonnierLoss": "cb",
           "L1CompositionLoss": "l1", "MSECompositionLoss": "mse", "CharbonnierCompLoss": "cb"}
    if ty in ("L1Loss", "MSELoss", "CharbonnierLoss"):
        e = _np_elementwise(pix[ty], t["pred"] - t["target"], p.get("eps", 1e-12))
        return w * _np_reduce(e, t.get("weight"), red, sw)
    if ty in ("L1CompositionLoss", "MSECompositionLoss", "CharbonnierCompLoss"):
        a = t["pred_alpha"]
        merged = a * t["fg"] + (1 - a) * t["bg"]
        wt = t.get("weight")
        if wt is not None:
            wt = np.broadcast_to(wt, merged.shape)
        e = _np_elementwise(pix[ty], merged - t["ori_merged"], p.get("eps", 1e-12))
        return w * _np_reduce(e, wt, red, sw)
    if ty == "MaskedTVLoss":
        x, m = t["pred"], t["mask"]
        y = _np_reduce(np.abs(x[:, :, :-1, :] - x[:, :, 1:, :]), m[:, :, :-1, :], "mean", False)
        z = _np_reduce(np.abs(x[:, :, :, :-1] - x[:, :, :, 1:]), m[:, :, :, :-1], "mean", False)
        return w * y + w * z
    if ty == "PSNRLoss":
        d = (t["pred"] - t["target"]) ** 2
        return w * (10 / np.log(10)) * np.mean(np.log(d.mean(axis=(1, 2, 3)) + 1e-8))
    if ty == "TVLoss":
        x = t["input"]
        xp = np.concatenate([x, x[:, :, :, -1:]], axis=3)
        xp = np.concatenate([xp, xp[:, :, -1:, :]], axis=2)
        dx = xp[:, :, :-1, 1:] - xp[:, :, :-1, :-1]
        dy = xp[:, :, 1:, :-1] - xp[:, :, :-1, :-1]
        return (dx ** 2 + dy ** 2).mean(axis=(1, 2, 3))
    if ty == "GradientLoss":
        gpx, gpy = _np_sobel(t["pred"])
        gtx, gty = _np_sobel(t["target"])
        wt = t.get("weight")
        return w * (_np_reduce(np.abs(gpx - gtx), wt, red, False)
                    + _np_reduce(np.abs(gpy - gty), wt, red, False))
    if ty in ("GANLoss", "GANLossComps"):
        return _np_gan(p["gan_type"], p, case["args"], t["input"], t.get("mask"))
    if ty == "DiscShiftLoss":
        return p.get("loss_weight", 0.1) * np.mean(t["x"] ** 2)
    if ty == "DiscShiftLossComps":
        return w * t["pred"] ** 2
    if ty == "TransferalPerceptualLoss":
        maps, soft, tex = t["maps"], t["soft_attention"], t["textures"]
        crit = p.get("criterion", "mse").lower()
        if p.get("use_attention", True):
            h, wd = soft.shape[2:]
            softs = [1 / (1 + np.exp(-soft))] + [
                _np_bicubic(soft, h * 2 ** i, wd * 2 ** i) for i in range(1, len(maps))]
        else:
            softs = [1.0, 1.0, 1.0]
        total = 0.0
        for m, s_, x in zip(maps, softs, tex):
            d = m * s_ - x * s_
            total = total + (np.mean(np.abs(d)) if crit == "l1" else np.mean(d * d))
        return total * w
    raise KeyError(ty)


def detached(case):
    """Inputs that the loss reads but MMagic detaches, so their stored gradient is zero."""
    a = case["args"]
    if (case["type"] == "GANLoss" and case["params"]["gan_type"] == "smgan"
            and a.get("is_disc") and not a["target_is_real"]):
        return {"mask"}  # gaussian_blur(mask).detach()
    return set()


def _dec(T):
    return np.array(T["data"], dtype=np.float64).reshape(T["shape"])


def _fd(f, t, arr, idx, h):
    """Central difference of f at arr[idx] with step h: ("slope", value, rounding noise), or
    ("kink", lo, hi) with the one-sided slopes when they disagree."""
    v0 = arr[idx]
    if v0 + h == v0 or v0 - h == v0:
        return ("kink", -np.inf, np.inf)  # the step vanishes next to v0: nothing to learn
    arr[idx] = v0 + h
    fp = f(t)
    arr[idx] = v0 - h
    fm = f(t)
    arr[idx] = v0
    f0 = f(t)
    right, left = (fp - f0) / h, (f0 - fm) / h
    # rounding error of a difference quotient: a few ulps of f, divided by the step
    noise = 4 * np.finfo(np.float64).eps * max(abs(fp), abs(fm), abs(f0)) / h
    if abs(right - left) > 1e-4 * (1 + abs(right) + abs(left)) + 2 * noise:
        return ("kink", min(left, right), max(left, right))
    return ("slope", (fp - fm) / (2 * h), noise)


def _fd_agrees(fd, g, tol):
    return fd[0] == "slope" and abs(fd[1] - g) <= tol * (1 + abs(fd[1])) + fd[2]


def verify(outdir):
    """Schema checks, forward values against np_forward, and central finite differences of
    every case against the stored gradients (at a kink: must lie between the one-sided slopes)."""
    tol = {"float32": (2e-5, 1e-5), "float64": (1e-10, 1e-10)}
    worst = {}
    n_cases = n_fd = n_kink = n_tiny = 0
    failures = []
    for fam in ("pixelwise", "composition", "gradient", "gan", "gan_comps", "disc_aux",
                "transferal"):
        with open(os.path.join(outdir, fam + ".json")) as f:
            doc = json.load(f)
        ids = set()
        for c in doc["cases"]:
            n_cases += 1
            assert set(c) == {"id", "type", "params", "args", "dtype", "inputs", "requires_grad",
                              "output", "cotangent", "grads"}, c["id"]
            assert c["id"] not in ids
            ids.add(c["id"])
            assert set(c["grads"]) == set(c["requires_grad"]) <= set(c["inputs"])
            t = {k: ([_dec(x) for x in v] if isinstance(v, list) else _dec(v))
                 for k, v in c["inputs"].items()}
            for k, v in c["inputs"].items():
                for T in (v if isinstance(v, list) else [v]):
                    assert len(T["data"]) == int(np.prod(T["shape"])), (c["id"], k)
                    if c["dtype"] == "float32":  # stored values are exact float32 values
                        d = np.array(T["data"])
                        assert np.array_equal(d.astype(np.float32).astype(np.float64), d)
            out = _dec(c["output"])
            assert (c["cotangent"] is None) == (out.ndim == 0), c["id"]
            ref = np.asarray(np_forward(c, t), dtype=np.float64)
            rtol, atol = tol[c["dtype"]]
            err = np.max(np.abs(ref - out) / (atol + rtol * np.abs(out))) if out.size else 0
            rel = np.max(np.abs(ref - out) / np.maximum(np.abs(out), 1e-3)) if out.size else 0
            key = (c["type"], SHORT[c["dtype"]])
            w_ = worst.get(key, (0.0, 0.0))
            worst[key] = (max(w_[0], float(err)), max(w_[1], float(rel)))
            if ref.shape != out.shape or err > 1:
                failures.append(f"{c['id']}: forward {ref.ravel()[:4]} vs {out.ravel()[:4]}")
            # float32 gradients carry float32 rounding (~1e-7 per operation): compare them
            # with the float64 difference quotient at 1e-4 instead of 1e-6.
            gtol = 1e-6 if c["dtype"] == "float64" else 1e-4
            cot = None if c["cotangent"] is None else _dec(c["cotangent"])

            def scalar(tt):
                o = np.asarray(np_forward(c, tt), dtype=np.float64)
                return float(o if cot is None else (o * cot).sum())
            for k in c["requires_grad"]:
                if k in detached(c):
                    if any(any(G["data"]) for G in (c["grads"][k] if isinstance(
                            c["grads"][k], list) else [c["grads"][k]])):
                        failures.append(f"{c['id']}: {k} is detached but has a gradient")
                    continue
                arrs = t[k] if isinstance(t[k], list) else [t[k]]
                gs = c["grads"][k] if isinstance(c["grads"][k], list) else [c["grads"][k]]
                for arr, G in zip(arrs, gs):
                    g = _dec(G)
                    assert g.shape == arr.shape, (c["id"], k)
                    for idx in np.ndindex(arr.shape):
                        fd = _fd(scalar, t, arr, idx, 1e-6 * max(1.0, abs(arr[idx])))
                        if not _fd_agrees(fd, g[idx], gtol):
                            # A weight in an all-zero sample (sample_wise mean) is smooth only
                            # on the scale of the 1e-12 guard: retry with a step far below it.
                            if _fd_agrees(_fd(scalar, t, arr, idx, 1e-18), g[idx], gtol):
                                n_fd += 1
                                n_tiny += 1
                                continue
                        if fd[0] == "kink":
                            # Non-differentiable here (|0|, relu(0), ...): PyTorch's choice
                            # must at least be a subgradient (between the one-sided slopes).
                            n_kink += 1
                            _, lo, hi = fd
                            if not lo - gtol * (1 + abs(lo)) <= g[idx] <= hi + gtol * (1 + abs(hi)):
                                failures.append(f"{c['id']}: d/d{k}{list(idx)} {g[idx]} not in "
                                                f"[{lo}, {hi}]")
                            continue
                        n_fd += 1
                        if not _fd_agrees(fd, g[idx], gtol):
                            failures.append(f"{c['id']}: d/d{k}{list(idx)} fd {fd[1]} vs {g[idx]}")
    for (name, dt), (e, r) in sorted(worst.items()):
        print(f"  {name:26s} {dt}: max |numpy - fixture| / max(|fixture|, 1e-3) = {r:.2g}"
              f"  (error / tolerance {e:.2g})")
    print(f"verified {n_cases} cases; {n_fd} gradient elements match central differences "
          f"({n_tiny} of them needed step 1e-18), {n_kink} at kinks are subgradients; "
          f"{len(failures)} failures")
    for f_ in failures[:40]:
        print("  FAIL", f_)
    return not failures


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "fixtures",
                                                  "losses"))
    ap.add_argument("--verify", action="store_true",
                    help="check the existing fixtures with NumPy only (no torch needed)")
    a = ap.parse_args()
    if a.verify:
        sys.exit(0 if verify(a.out) else 1)
    load_oracle()
    os.makedirs(a.out, exist_ok=True)
    import warnings
    warnings.simplefilter("ignore")  # broadcast warnings of nn.MSELoss in smgan mask-c1 cases
    for gen in (gen_pixelwise, gen_composition, gen_gradient, gen_gan, gen_gan_comps,
                gen_disc_aux, gen_transferal):
        path, n = gen().write(a.out)
        print(f"{os.path.relpath(path)}: {n} cases, {os.path.getsize(path)} bytes")
    errors = gen_errors()
    path = os.path.join(a.out, "errors.json")
    with open(path, "w") as f:
        json.dump({"generator": GENERATOR, "cases": errors}, f, indent=1, allow_nan=False)
        f.write("\n")
    print(f"{os.path.relpath(path)}: {len(errors)} cases")


if __name__ == "__main__":
    main()
