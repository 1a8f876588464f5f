#!/usr/bin/env python3
"""Makes fixtures/accept/: configs, inputs and MMagic's own results for the
end-to-end acceptance tests (Tests/LossCLITests/Acceptance*.swift).

Each case is a config `CASE.json` (MMagic-shaped, as `losscli eval` reads it),
its inputs `CASE_inputs.npz` (float32), and what MMagic 1.2's real loss classes
compute on them with PyTorch, in float32 and in float64:
`CASE_expected_f32.json` / `CASE_expected_f64.json` in `losscli eval`'s JSON
schema (terms, total, gradient stats) and `CASE_grads_f32.npz` /
`CASE_grads_f64.npz` with every gradient array keyed `TERM/INPUT` and
`total/INPUT`, and `CASE_values_f32.npz` / `CASE_values_f64.npz` with every
term's full (unreduced) output, as `--values-out` writes it.

The reference calls below are written by hand from the config, the way an MMagic
model would call its losses: they do not share code with losscli's config
reader, so a wrong binding, name or sum in losscli shows up as a mismatch.

Run with the oracle's python (the tests never run it; its outputs are committed):

    /tmp/oracle/venv/bin/python scripts/gen_accept_fixtures.py
"""
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures", "accept")

sys.path.insert(0, "/work/shared/oracle")
import mmoracle  # noqa: E402
import torch  # noqa: E402

L = mmoracle.load()


def write_json(name, obj):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


# ---------------------------------------------------------------- the cases
# Each case: config, inputs (dict of float32 arrays), and `reference(x)` that
# returns [(term name, type, value tensor, [inputs the term reads])] with
# same-named terms already summed, in the order losscli reports them.

def gan_case(rng):
    config = {"losses": {
        # data_info on a non-Comps type, args with is_disc.
        "gan_loss": {"type": "GANLoss", "gan_type": "vanilla", "loss_weight": 0.01,
                     "args": {"target_is_real": True, "is_disc": False},
                     "data_info": {"input": "disc_fake"}},
        "disc_loss_real": {"type": "GANLoss", "gan_type": "hinge", "loss_weight": 7.0,
                           "args": {"target_is_real": True, "is_disc": True},
                           "data_info": {"input": "disc_real"}},
        "disc_loss_fake": {"type": "GANLoss", "gan_type": "lsgan", "real_label_val": 0.9,
                           "fake_label_val": 0.1, "loss_weight": 3.0,
                           "args": {"target_is_real": False, "is_disc": True},
                           "data_info": {"input": "disc_fake"}},
        "wgan_loss": {"type": "GANLoss", "gan_type": "wgan", "loss_weight": 0.5,
                      "args": {"target_is_real": False},
                      "data_info": {"input": "disc_real"}},
        "l1_gan_loss": {"type": "GANLoss", "gan_type": "l1", "real_label_val": 0.8,
                        "args": {"target_is_real": True, "is_disc": False},
                        "data_info": {"input": "disc_real"}},
        # smgan: the mask is larger than the discriminator map (bilinear resize).
        "smgan_loss": {"type": "GANLoss", "gan_type": "smgan", "loss_weight": 2.0,
                       "args": {"target_is_real": False, "is_disc": True},
                       "data_info": {"input": "disc_fake", "mask": "hole"}},
        "hinge_gen_loss": {"type": "GANLossComps", "gan_type": "hinge", "loss_weight": 0.25,
                           "args": {"target_is_real": True, "is_disc": False},
                           "data_info": {"input": "disc_fake"}},
        # Not in the total: the name has no "loss".
        "ns_logistic": {"type": "GANLossComps", "gan_type": "wgan-logistic-ns",
                        "args": {"target_is_real": True},
                        "data_info": {"input": "disc_fake"}},
    }}
    inputs = {
        "disc_real": rng.normal(size=(2, 1, 5, 5)).astype(np.float32),
        "disc_fake": rng.normal(size=(2, 1, 5, 5)).astype(np.float32),
        "hole": (rng.uniform(size=(2, 1, 8, 8)) > 0.4).astype(np.float32),
    }

    def reference(x):
        return [
            ("gan_loss", "GANLoss",
             L.GANLoss("vanilla", loss_weight=0.01)(x["disc_fake"], target_is_real=True, is_disc=False),
             ["disc_fake"]),
            ("disc_loss_real", "GANLoss",
             L.GANLoss("hinge", loss_weight=7.0)(x["disc_real"], target_is_real=True, is_disc=True),
             ["disc_real"]),
            ("disc_loss_fake", "GANLoss",
             L.GANLoss("lsgan", real_label_val=0.9, fake_label_val=0.1, loss_weight=3.0)(
                 x["disc_fake"], target_is_real=False, is_disc=True),
             ["disc_fake"]),
            ("wgan_loss", "GANLoss",
             L.GANLoss("wgan", loss_weight=0.5)(x["disc_real"], target_is_real=False),
             ["disc_real"]),
            ("l1_gan_loss", "GANLoss",
             L.GANLoss("l1", real_label_val=0.8)(x["disc_real"], target_is_real=True, is_disc=False),
             ["disc_real"]),
            ("smgan_loss", "GANLoss",
             L.GANLoss("smgan", loss_weight=2.0)(x["disc_fake"], target_is_real=False, is_disc=True,
                                                 mask=x["hole"]),
             ["disc_fake", "hole"]),
            ("hinge_gen_loss", "GANLossComps",
             L.GANLossComps("hinge", loss_weight=0.25)(x["disc_fake"], target_is_real=True, is_disc=False),
             ["disc_fake"]),
            ("ns_logistic", "GANLossComps",
             L.GANLossComps("wgan-logistic-ns")(x["disc_fake"], target_is_real=True),
             ["disc_fake"]),
        ]
    return config, inputs, reference


def composition_case(rng):
    config = {"losses": {
        # data_info maps every tensor argument to other input names.
        "comp_loss": {"type": "L1CompositionLoss", "loss_weight": 0.5,
                      "data_info": {"pred_alpha": "alpha", "fg": "fore", "bg": "back",
                                    "ori_merged": "merged", "weight": "trimap_weight"}},
        "comp_mse_loss": {"type": "MSECompositionLoss", "sample_wise": True,
                          "data_info": {"pred_alpha": "alpha", "fg": "fore", "bg": "back",
                                        "ori_merged": "merged", "weight": "trimap_weight"}},
        "comp_charb_loss": {"type": "CharbonnierCompLoss", "reduction": "sum", "eps": 1e-3,
                            "data_info": {"pred_alpha": "alpha", "fg": "fore", "bg": "back",
                                          "ori_merged": "merged"}},
        # A list of non-Comps dicts: KEY.0, KEY.1, and the list key has "loss".
        "alpha_loss": [
            {"type": "L1Loss", "data_info": {"pred": "alpha", "target": "alpha_gt"}},
            {"type": "MSELoss", "loss_weight": 2.0, "reduction": "none",
             "data_info": {"pred": "alpha", "target": "alpha_gt", "weight": "trimap_weight"}},
        ],
    }}
    inputs = {
        "alpha": rng.uniform(size=(2, 1, 6, 6)).astype(np.float32),
        "alpha_gt": rng.uniform(size=(2, 1, 6, 6)).astype(np.float32),
        "fore": rng.uniform(size=(2, 3, 6, 6)).astype(np.float32),
        "back": rng.uniform(size=(2, 3, 6, 6)).astype(np.float32),
        "merged": rng.uniform(size=(2, 3, 6, 6)).astype(np.float32),
        "trimap_weight": (rng.uniform(size=(2, 1, 6, 6)) > 0.3).astype(np.float32),
    }
    comp = ["alpha", "fore", "back", "merged"]

    def reference(x):
        return [
            ("comp_loss", "L1CompositionLoss",
             L.L1CompositionLoss(loss_weight=0.5)(x["alpha"], x["fore"], x["back"], x["merged"],
                                                   weight=x["trimap_weight"]),
             comp + ["trimap_weight"]),
            ("comp_mse_loss", "MSECompositionLoss",
             L.MSECompositionLoss(sample_wise=True)(x["alpha"], x["fore"], x["back"], x["merged"],
                                                     weight=x["trimap_weight"]),
             comp + ["trimap_weight"]),
            ("comp_charb_loss", "CharbonnierCompLoss",
             L.CharbonnierCompLoss(reduction="sum", eps=1e-3)(x["alpha"], x["fore"], x["back"],
                                                                x["merged"]),
             comp),
            ("alpha_loss.0", "L1Loss", L.L1Loss()(x["alpha"], x["alpha_gt"]), ["alpha", "alpha_gt"]),
            ("alpha_loss.1", "MSELoss",
             L.MSELoss(loss_weight=2.0, reduction="none")(x["alpha"], x["alpha_gt"],
                                                          weight=x["trimap_weight"]),
             ["alpha", "alpha_gt", "trimap_weight"]),
        ]
    return config, inputs, reference


def transferal_case(rng):
    config = {"losses": {
        "texture_loss": {"type": "TransferalPerceptualLoss", "loss_weight": 0.3,
                         "use_attention": True, "criterion": "mse",
                         "data_info": {"maps": ["m0", "m1", "m2"], "textures": ["t0", "t1", "t2"],
                                       "soft_attention": "att"}},
        "texture_l1_loss": {"type": "TransferalPerceptualLoss", "use_attention": False,
                            "criterion": "l1",
                            "data_info": {"maps": ["m0", "m1"], "textures": ["t0", "t1"],
                                          "soft_attention": "att"}},
    }}
    inputs = {"att": rng.uniform(size=(1, 1, 3, 3)).astype(np.float32)}
    for i in range(3):
        size = 3 * 2 ** i
        inputs[f"m{i}"] = rng.normal(size=(1, 2, size, size)).astype(np.float32)
        inputs[f"t{i}"] = rng.normal(size=(1, 2, size, size)).astype(np.float32)

    def reference(x):
        a = L.TransferalPerceptualLoss(loss_weight=0.3, use_attention=True, criterion="mse")(
            [x["m0"], x["m1"], x["m2"]], x["att"], [x["t0"], x["t1"], x["t2"]])
        b = L.TransferalPerceptualLoss(use_attention=False, criterion="l1")(
            [x["m0"], x["m1"]], x["att"], [x["t0"], x["t1"]])
        return [
            ("texture_loss", "TransferalPerceptualLoss", a, ["m0", "m1", "m2", "t0", "t1", "t2", "att"]),
            # use_attention false: the attention is read but does not matter (zero gradient).
            ("texture_l1_loss", "TransferalPerceptualLoss", b, ["m0", "m1", "t0", "t1", "att"]),
        ]
    return config, inputs, reference


def disc_shift_case(rng):
    config = {"losses": {
        # Two Comps without loss_name: both loss_disc_shift, summed.
        "disc_auxiliary_loss": [
            {"type": "DiscShiftLossComps", "loss_weight": 0.001, "data_info": {"pred": "disc_pred_real"}},
            {"type": "DiscShiftLossComps", "loss_weight": 0.002, "data_info": {"pred": "disc_pred_fake"}},
            {"type": "DiscShiftLossComps", "loss_weight": 0.5, "loss_name": "shift_real",
             "data_info": {"pred": "disc_pred_real"}},
        ],
        # A Comps dict outside the list with the default name: summed with the two above.
        "more_shift": {"type": "DiscShiftLossComps", "data_info": {"pred": "disc_pred_fake"}},
        "shift_plain": {"type": "DiscShiftLoss", "loss_weight": 0.1, "data_info": {"x": "disc_pred_real"}},
    }, "inputs": {"disc_pred_real": "disc_shift_real.npy"}}
    inputs = {
        "disc_pred_real": rng.normal(size=(3, 1)).astype(np.float32),
        "disc_pred_fake": rng.normal(size=(3, 1)).astype(np.float32),
    }

    def reference(x):
        outputs = {"disc_pred_real": x["disc_pred_real"], "disc_pred_fake": x["disc_pred_fake"]}
        a = L.DiscShiftLossComps(loss_weight=0.001, data_info={"pred": "disc_pred_real"})
        b = L.DiscShiftLossComps(loss_weight=0.002, data_info={"pred": "disc_pred_fake"})
        c = L.DiscShiftLossComps(loss_weight=0.5, loss_name="shift_real",
                                 data_info={"pred": "disc_pred_real"})
        d = L.DiscShiftLossComps(data_info={"pred": "disc_pred_fake"})
        assert a.loss_name() == b.loss_name() == d.loss_name() == "loss_disc_shift"
        assert c.loss_name() == "shift_real"
        return [
            ("loss_disc_shift", "DiscShiftLossComps", a(outputs) + b(outputs) + d(outputs),
             ["disc_pred_real", "disc_pred_fake"]),
            ("shift_real", "DiscShiftLossComps", c(outputs), ["disc_pred_real"]),
            ("shift_plain", "DiscShiftLoss", L.DiscShiftLoss(loss_weight=0.1)(x["disc_pred_real"]),
             ["disc_pred_real"]),
        ]
    return config, inputs, reference


def pixel_case(rng):
    config = {"losses": {
        "l1_sum_loss": {"type": "L1Loss", "reduction": "sum", "loss_weight": 0.1},
        "mse_loss": {"type": "MSELoss", "sample_wise": True, "loss_weight": 2.0},
        "charb_loss": {"type": "CharbonnierLoss", "eps": 1e-3, "sample_wise": True, "loss_weight": 0.7},
        "psnr_loss": {"type": "PSNRLoss", "toY": True, "loss_weight": 0.5},
        "tv_loss": {"type": "MaskedTVLoss", "loss_weight": 2.0, "data_info": {"mask": "hole"}},
    }}
    inputs = {
        "pred": rng.uniform(size=(2, 3, 5, 5)).astype(np.float32),
        "target": rng.uniform(size=(2, 3, 5, 5)).astype(np.float32),
        "weight": rng.uniform(size=(2, 1, 5, 5)).astype(np.float32),
        "hole": (rng.uniform(size=(2, 1, 5, 5)) > 0.5).astype(np.float32),
    }
    ptw = ["pred", "target", "weight"]

    def reference(x):
        return [
            ("l1_sum_loss", "L1Loss",
             L.L1Loss(reduction="sum", loss_weight=0.1)(x["pred"], x["target"], weight=x["weight"]), ptw),
            ("mse_loss", "MSELoss",
             L.MSELoss(sample_wise=True, loss_weight=2.0)(x["pred"], x["target"], weight=x["weight"]), ptw),
            ("charb_loss", "CharbonnierLoss",
             L.CharbonnierLoss(eps=1e-3, sample_wise=True, loss_weight=0.7)(x["pred"], x["target"],
                                                                            weight=x["weight"]), ptw),
            ("psnr_loss", "PSNRLoss", L.PSNRLoss(toY=True, loss_weight=0.5)(x["pred"], x["target"]),
             ["pred", "target"]),
            ("tv_loss", "MaskedTVLoss", L.MaskedTVLoss(loss_weight=2.0)(x["pred"], mask=x["hole"]),
             ["pred", "hole"]),
        ]
    return config, inputs, reference


def gan_more_case(rng):
    """The GAN corners: label smoothing on the discriminator, smgan on the generator with a
    mask of another size, l1 and hinge on the discriminator, Comps lsgan/vanilla labels."""
    config = {"losses": {
        "d_real_loss": {"type": "GANLoss", "gan_type": "vanilla", "real_label_val": 0.9, "loss_weight": 5.0,
                        "args": {"target_is_real": True, "is_disc": True}, "data_info": {"input": "d_real"}},
        "g_sm_loss": {"type": "GANLoss", "gan_type": "smgan", "loss_weight": 0.3,
                      "args": {"target_is_real": True, "is_disc": False},
                      "data_info": {"input": "d_fake", "mask": "hole"}},
        "d_sm_real_loss": {"type": "GANLoss", "gan_type": "smgan",
                           "args": {"target_is_real": True, "is_disc": True},
                           "data_info": {"input": "d_real", "mask": "hole"}},
        "d_l1_loss": {"type": "GANLoss", "gan_type": "l1", "fake_label_val": 0.2,
                      "args": {"target_is_real": False, "is_disc": True}, "data_info": {"input": "d_fake"}},
        "d_hinge_fake_loss": {"type": "GANLoss", "gan_type": "hinge",
                              "args": {"target_is_real": False, "is_disc": True}, "data_info": {"input": "d_fake"}},
        "comps_loss": [
            {"type": "GANLossComps", "gan_type": "lsgan", "real_label_val": 0.7,
             "args": {"target_is_real": True, "is_disc": True}, "data_info": {"input": "d_real"}},
            {"type": "GANLossComps", "gan_type": "vanilla", "fake_label_val": 0.1, "loss_weight": 4.0,
             "args": {"target_is_real": False, "is_disc": False}, "data_info": {"input": "d_fake"}},
            {"type": "GANLossComps", "gan_type": "wgan", "loss_weight": 2.0,
             "args": {"target_is_real": True}, "data_info": {"input": "d_fake"}},
        ],
    }}
    inputs = {
        "d_real": rng.normal(size=(2, 1, 4, 6)).astype(np.float32),
        "d_fake": rng.normal(size=(2, 1, 4, 6)).astype(np.float32),
        "hole": (rng.uniform(size=(2, 1, 7, 9)) > 0.5).astype(np.float32),
    }

    def reference(x):
        return [
            ("d_real_loss", "GANLoss",
             L.GANLoss("vanilla", real_label_val=0.9, loss_weight=5.0)(x["d_real"], True, is_disc=True),
             ["d_real"]),
            ("g_sm_loss", "GANLoss",
             L.GANLoss("smgan", loss_weight=0.3)(x["d_fake"], True, is_disc=False, mask=x["hole"]),
             ["d_fake", "hole"]),
            ("d_sm_real_loss", "GANLoss",
             L.GANLoss("smgan")(x["d_real"], True, is_disc=True, mask=x["hole"]), ["d_real", "hole"]),
            ("d_l1_loss", "GANLoss",
             L.GANLoss("l1", fake_label_val=0.2)(x["d_fake"], False, is_disc=True), ["d_fake"]),
            ("d_hinge_fake_loss", "GANLoss",
             L.GANLoss("hinge")(x["d_fake"], False, is_disc=True), ["d_fake"]),
            ("comps_loss.0", "GANLossComps",
             L.GANLossComps("lsgan", real_label_val=0.7)(x["d_real"], True, is_disc=True), ["d_real"]),
            ("comps_loss.1", "GANLossComps",
             L.GANLossComps("vanilla", fake_label_val=0.1, loss_weight=4.0)(x["d_fake"], False, is_disc=False),
             ["d_fake"]),
            ("comps_loss.2", "GANLossComps",
             L.GANLossComps("wgan", loss_weight=2.0)(x["d_fake"], True), ["d_fake"]),
        ]
    return config, inputs, reference


# ---------------------------------------------------------------- running MMagic

def run(name, config, inputs, reference, dtype):
    tdtype = torch.float64 if dtype == "f64" else torch.float32
    x = {k: torch.tensor(v.astype(np.float64), dtype=tdtype, requires_grad=True) for k, v in inputs.items()}
    digits = (lambda v: float(np.float32(v))) if dtype == "f32" else float
    terms, grads, total, total_inputs, values = {}, {}, None, [], {}
    for term, type_, value, read in reference(x):
        values[term] = value.detach().numpy()
        reported = value if value.dim() == 0 else value.mean()
        in_total = "loss" in term
        terms[term] = {"type": type_, "value": digits(reported.item()), "shape": list(value.shape),
                       "in_total": in_total}
        if in_total:
            total = reported if total is None else total + reported
            total_inputs += [r for r in read if r not in total_inputs]
        gs = torch.autograd.grad(reported, [x[r] for r in read], retain_graph=True, allow_unused=True)
        for r, g in zip(read, gs):
            grads[f"{term}/{r}"] = (torch.zeros_like(x[r]) if g is None else g).detach().numpy()
    gs = torch.autograd.grad(total, [x[r] for r in total_inputs], retain_graph=True, allow_unused=True)
    ordered = {f"total/{r}": (torch.zeros_like(x[r]) if g is None else g).detach().numpy()
               for r, g in zip(total_inputs, gs)}
    ordered.update(grads)
    gradients = {}
    for key, g in ordered.items():
        owner, inp = key.split("/")
        g64 = g.astype(np.float64)
        gradients.setdefault(owner, {})[inp] = {
            "shape": list(g.shape), "l2": digits(np.sqrt((g64 * g64).sum())),
            "max_abs": digits(np.abs(g64).max())}
    write_json(f"{name}_expected_{dtype}.json",
               {"terms": terms, "total": digits(total.item()), "gradients": gradients})
    np.savez(os.path.join(OUT, f"{name}_grads_{dtype}.npz"), **ordered)
    np.savez(os.path.join(OUT, f"{name}_values_{dtype}.npz"), **values)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261127)
    for name, make in [("gan", gan_case), ("composition", composition_case),
                       ("transferal", transferal_case), ("disc_shift", disc_shift_case),
                       ("pixel", pixel_case), ("gan_more", gan_more_case)]:
        config, inputs, reference = make(rng)
        write_json(f"{name}.json", config)
        np.savez(os.path.join(OUT, f"{name}_inputs.npz"), **inputs)
        for dtype in ("f32", "f64"):
            run(name, config, inputs, reference, dtype)
    # disc_shift.json names one input by its config path (relative to the config).
    real = np.load(os.path.join(OUT, "disc_shift_inputs.npz"))["disc_pred_real"]
    np.save(os.path.join(OUT, "disc_shift_real.npy"), real)


if __name__ == "__main__":
    main()
