#!/usr/bin/env python3
"""Side-by-side benchmarks: losscli against its peer (PyTorch + MMagic, NumPy), in the same run.

Each workload names a losscli command and a peer command that does the same work. Runs are
interleaved (losscli, peer, losscli, peer, ...) so both see the same machine state; the table
shows the median of each and the ratio losscli/peer (below 1: losscli is faster). The machine
may be shared and noisy: absolute times move, ratios hold better.

Workloads:
  pixel  forward + backward of L1Loss + MSELoss + CharbonnierLoss(sample_wise), each with an
         (8,1,512,512) weight, on (8,3,512,512) float32: compute time only, warm steps on
         both sides (losscli: `--timing --repeat 4`, the median forward + backward of
         evaluations 2..4 in one process; the peer (bench/peer_pixel.py) times the same
         in-process, 2 threads, arrays loaded beforehand, median of its steps after the first).
         The first (cold) evaluation of each side is printed beside the table. Both sides compute the three values,
         the total and the gradients w.r.t. pred, target and weight: of the total only
         (`eval --total-only`; the peer: autograd.grad of the sum), or of the total and of each
         term (`eval`'s default; the peer: autograd.grad of each term, the total's as their sum).
  eval   a whole `losscli eval` process on a small input with --grad-out, against a whole
         python process that imports torch, computes the same loss and saves its gradients.
  inspect `losscli inspect` of a 384 MiB float32 .npy against np.load + the same statistics.
  weights a 548 MB VGG19 state dict in torch's legacy stream with the 2017 `_rebuild_tensor`
         reducer, as torchvision's vgg19-dcbb9e9d.pth is (random weights from shared/oracle/nets.py,
         same keys, shapes and format), from which the perceptual loss needs the 16 conv layers
         (`features.*`, 80 MB): `losscli inspect FILE --key 'features.*'` (read, select, statistics
         of those tensors) against a python process that does torch.load(FILE) (mmap=False, its
         default) and the same statistics. Two rows: whole process against whole process, and the
         losscli process against the peer's torch.load + statistics alone, timed inside python
         after `import torch` (what a long-lived Python process pays per load).
and the peak memory (max RSS) of the pixel and weights workloads' processes.

The peer python is $ORACLE_PYTHON, else /tmp/oracle/venv/bin/python when present (it needs
torch and numpy; `shared/oracle/oracle-setup` makes such an environment, and the MMagic
loader shared/oracle/mmoracle.py, or $MMORACLE_DIR). Without it, losscli is timed alone.
Inputs are generated under /tmp/losscli-bench (never in the repository) and reused.

    python3 bench/run.py [--reps N] [--only NAME] [--bin .build/release/losscli]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

try:
    import numpy as np
except ImportError:  # pragma: no cover
    sys.exit("bench/run.py needs numpy in the python that runs it (pip install numpy), "
             "or run it with the peer python: $ORACLE_PYTHON bench/run.py")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = "/tmp/losscli-bench"
ORACLE_DIR = os.environ.get("MMORACLE_DIR", os.path.join(os.path.dirname(ROOT), "shared", "oracle"))


def peer_python():
    """The python with torch + numpy for the peers, or None."""
    env = os.environ.get("ORACLE_PYTHON")
    for p in [env] if env else ["/tmp/oracle/venv/bin/python"]:
        if os.path.exists(p):
            r = subprocess.run([p, "-c", "import torch, numpy"], capture_output=True)
            if r.returncode == 0:
                return p
    return None


def save(path, make):
    if not os.path.exists(path):
        os.makedirs(WORK, exist_ok=True)
        np.save(path + ".tmp.npy", make())
        os.replace(path + ".tmp.npy", path)
    return path


# ---- inspect ------------------------------------------------------------------------------

def big_f32_npy():
    """A 384 MiB float32 .npy of 96 Mi standard normal values."""
    path = os.path.join(WORK, "f32_384mib.npy")
    n = 384 * 1024 * 1024 // 4
    if os.path.exists(path) and os.path.getsize(path) != n * 4 + 128:
        os.remove(path)
    return save(path, lambda: np.random.default_rng(0).standard_normal(n, dtype=np.float32))


# np.load + the statistics `losscli inspect` reports, each as NumPy computes it, in float64.
NUMPY_INSPECT = r"""
import json, sys
import numpy as np
a = np.load(sys.argv[1])
s = float(np.add.reduce(a, axis=None, dtype=np.float64))
print(json.dumps({"min": float(a.min()), "max": float(a.max()), "mean": s / a.size, "sum": s,
                  "nonfinite": int(a.size - np.count_nonzero(np.isfinite(a)))}))
"""


def check_inspect(ours, peer):
    """The two reports agree: min/max/nonfinite exactly, sum and mean to float64 rounding."""
    a = next(iter(json.loads(ours)["arrays"].values()))
    b = json.loads(peer)
    close = lambda x, y: abs(float(x) - float(y)) <= 1e-9 * max(1.0, abs(float(y)))
    return (float(a["min"]) == b["min"] and float(a["max"]) == b["max"] and a["nonfinite"] == b["nonfinite"]
            and close(a["sum"], b["sum"]) and close(a["mean"], b["mean"]))


# ---- a VGG19 weight file --------------------------------------------------------------------

def vgg19_legacy():
    """torchvision-format VGG19 weights (legacy stream, v1 reducer), random, 548 MB; made once
    with the peer python and shared/oracle/nets.py."""
    path = os.path.join(WORK, "vgg19-legacy-v1.pth")
    if not os.path.exists(path):
        py = peer_python()
        if py is None:
            sys.exit("the weights workload needs the peer python to write its VGG19 file (shared/oracle/oracle-setup)")
        os.makedirs(WORK, exist_ok=True)
        subprocess.run([py, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import nets; "
                        "nets.save_vgg(sys.argv[2] + '.tmp', 'vgg19', 0, 'legacy-v1')", ORACLE_DIR, path], check=True)
        os.replace(path + ".tmp", path)
    return path


# torch.load of the whole file, then the statistics `inspect` gives for the features.* tensors.
TORCH_WEIGHTS = r"""
import json, sys, time
import torch
t0 = time.perf_counter()
sd = torch.load(sys.argv[1])
out = {}
for k, v in sd.items():
    if k.startswith("features."):
        d = v.double()
        s = float(d.sum())
        out[k] = {"min": float(d.min()), "max": float(d.max()), "sum": s, "mean": s / d.numel(),
                  "nonfinite": int((~torch.isfinite(d)).sum())}
print(json.dumps({"arrays": out, "ms": (time.perf_counter() - t0) * 1e3}))
"""


def check_weights(ours, peer):
    a, b = json.loads(ours)["arrays"], json.loads(peer)["arrays"]
    close = lambda x, y: abs(float(x) - float(y)) <= 1e-9 * max(1.0, abs(float(y)))
    return len(a) == 32 and a.keys() == b.keys() and all(
        float(a[k]["min"]) == b[k]["min"] and float(a[k]["max"]) == b[k]["max"] and a[k]["nonfinite"] == b[k]["nonfinite"]
        and close(a[k]["sum"], b[k]["sum"]) for k in b)


# ---- PerceptualLoss (VGG19) -----------------------------------------------------------------

PERCEPTUAL_LAYERS = {"2": 0.1, "7": 0.1, "16": 1.0, "25": 1.0, "34": 1.0}


def perceptual_inputs(shape, style):
    """x, gt in [-1, 1] of `shape`, the VGG19 file of the weights workload, a config."""
    weights = vgg19_legacy()
    rng = np.random.default_rng(3)
    tag = "x".join(map(str, shape))
    d = os.path.join(WORK, "perceptual")
    os.makedirs(d, exist_ok=True)
    x = save(os.path.join(d, f"x_{tag}.npy"), lambda: (rng.random(shape, dtype=np.float32) * 2 - 1))
    gt = save(os.path.join(d, f"gt_{tag}.npy"), lambda: (rng.random(shape, dtype=np.float32) * 2 - 1))
    cfg = os.path.join(d, f"loss_style{style:g}.json")
    with open(cfg, "w") as f:
        json.dump({"losses": {"perceptual_loss": {"type": "PerceptualLoss", "layer_weights": PERCEPTUAL_LAYERS,
                                                  "style_weight": style, "pretrained": weights}}}, f)
    return [cfg, x, gt, weights, style]


def perceptual_ours(binary, inputs):
    cfg, x, gt, _, _ = inputs
    return [binary, "eval", "--config", cfg, "--input", f"x={x}", "--input", f"gt={gt}", "--wrt", "x", "--total-only",
            "--timing", "--repeat", "3", "--format", "json"]


def perceptual_peer(py, inputs):
    cfg, x, gt, weights, style = inputs
    return [py, os.path.join(ROOT, "bench", "peer_perceptual.py"), weights, x, gt, str(style), "2"]


def check_perceptual(ours, peer):
    a, b = json.loads(ours), json.loads(peer)
    terms = a["terms"]
    ok = abs(terms["perceptual_loss.perceptual"]["value"] - b["perceptual"]) <= 1e-4 * abs(b["perceptual"])
    if b["style"] is not None:
        ok = ok and abs(terms["perceptual_loss.style"]["value"] - b["style"]) <= 1e-3 * abs(b["style"])
    return ok and abs(a["gradients"]["total"]["x"]["l2"] - b["grad_norm"]) <= 1e-3 * b["grad_norm"]


def perceptual_workload(name, shape, style, rss=False):
    """A warm-compute row: losscli `eval --timing --repeat` against MMagic's warm steps."""
    return {"name": name, "input": lambda: perceptual_inputs(shape, style),
            "losscli": perceptual_ours, "losscli_time": pixel_ours_time,
            "peer": perceptual_peer, "peer_time": pixel_peer_time,
            "peer_name": "torch+MMagic compute", "check": check_perceptual, "rss": rss}


# The whole route: a python process that imports torch, builds MMagic's loss from the file,
# computes once and saves the gradient; against `losscli eval --grad-out`.
TORCH_PERCEPTUAL_PROCESS = r"""
import sys
import numpy as np, torch
sys.path.insert(0, sys.argv[1])
import mmoracle
mmoracle.use_vgg_weights(sys.argv[2])
L = mmoracle.load()
loss = L.PerceptualLoss(layer_weights={"2": 0.1, "7": 0.1, "16": 1.0, "25": 1.0, "34": 1.0}, style_weight=0.0)
x = torch.from_numpy(np.load(sys.argv[3])).requires_grad_()
p, _ = loss(x, torch.from_numpy(np.load(sys.argv[4])))
g, = torch.autograd.grad(p, x)
np.savez(sys.argv[5], **{"total/x": g.numpy()})
print(p.item())
"""


# ---- pixel losses, compute only ----------------------------------------------------------

PIXEL_CONFIG = {"losses": {"l1_loss": {"type": "L1Loss"}, "mse_loss": {"type": "MSELoss"},
                           "charb_loss": {"type": "CharbonnierLoss", "sample_wise": True}}}


def pixel_inputs():
    rng = np.random.default_rng(1)
    d = os.path.join(WORK, "pixel")
    os.makedirs(d, exist_ok=True)
    paths = [save(os.path.join(d, "pred.npy"), lambda: rng.random((8, 3, 512, 512), dtype=np.float32)),
             save(os.path.join(d, "target.npy"), lambda: rng.random((8, 3, 512, 512), dtype=np.float32)),
             save(os.path.join(d, "weight.npy"), lambda: (rng.random((8, 1, 512, 512)) > 0.3).astype(np.float32))]
    cfg = os.path.join(d, "losses.json")
    with open(cfg, "w") as f:
        json.dump(PIXEL_CONFIG, f)
    return [cfg] + paths


def pixel_ours(binary, inputs, total_only=False):
    cfg, pred, target, weight = inputs
    return [binary, "eval", "--config", cfg, "--pred", pred, "--target", target, "--weight", weight,
            "--timing", "--repeat", str(PIXEL_REPEAT), "--format", "json"] + (["--total-only"] if total_only else [])


# Evaluations per losscli process: the first is cold (fresh process memory), the others warm,
# as the peer's steps after its first are.
PIXEL_REPEAT = 4


def pixel_ours_time(out):
    """Warm compute time: the median forward + backward of runs 2..N (`--repeat`)."""
    t = json.loads(out)["timing_ms"]
    return (t["forward_warm"] + t["backward_warm"]) / 1e3


def pixel_ours_cold(out):
    """The first evaluation of the process: fresh memory, page faults included."""
    t = json.loads(out)["timing_ms"]
    return (t["forward"] + t["backward"]) / 1e3


def pixel_peer(py, inputs, mode="terms"):
    return [py, os.path.join(ROOT, "bench", "peer_pixel.py")] + inputs[1:] + [mode, "3"]


def pixel_peer_time(out):
    return json.loads(out)["compute_ms"] / 1e3


def check_pixel(ours, peer):
    """Values, total and every gradient's L2 norm agree to float32 accuracy."""
    a, b = json.loads(ours), json.loads(peer)
    close = lambda x, y: abs(float(x) - float(y)) <= 1e-5 * abs(float(y)) + 1e-12
    ok = close(a["total"], b["total"]) and all(close(a["terms"][k]["value"], v) for k, v in b["terms"].items())
    for owner, grads in b["gradients"].items():
        for name, norm in grads.items():
            ok = ok and close(a["gradients"][owner][name]["l2"], norm)
    return ok


# ---- whole eval process, small input ------------------------------------------------------

def eval_inputs():
    rng = np.random.default_rng(2)
    d = os.path.join(WORK, "small")
    os.makedirs(d, exist_ok=True)
    pred = save(os.path.join(d, "pred.npy"), lambda: rng.random((1, 3, 64, 64), dtype=np.float32))
    target = save(os.path.join(d, "target.npy"), lambda: rng.random((1, 3, 64, 64), dtype=np.float32))
    cfg = os.path.join(d, "loss.json")
    with open(cfg, "w") as f:
        json.dump({"type": "L1Loss"}, f)
    return [cfg, pred, target, os.path.join(d, "grads-losscli.npz"), os.path.join(d, "grads-peer.npz")]


def eval_ours(binary, inputs):
    cfg, pred, target, out, _ = inputs
    return [binary, "eval", "--config", cfg, "--pred", pred, "--target", target, "--grad-out", out, "--format", "json"]


# The whole Python route: start, import torch, load, compute MMagic's L1Loss and its gradient, save.
TORCH_EVAL = r"""
import json, sys
import numpy as np, torch
sys.path.insert(0, sys.argv[1])
import mmoracle
L = mmoracle.load()
pred, target = (torch.from_numpy(np.load(p)).requires_grad_() for p in sys.argv[2:4])
loss = L.L1Loss()(pred, target)
gp, gt = torch.autograd.grad(loss, (pred, target))
np.savez(sys.argv[4], **{"total/pred": gp.numpy(), "total/target": gt.numpy(),
                         "loss/pred": gp.numpy(), "loss/target": gt.numpy()})
print(json.dumps({"total": loss.item()}))
"""


def eval_peer(py, inputs):
    cfg, pred, target, _, out = inputs
    return [py, "-c", TORCH_EVAL, ORACLE_DIR, pred, target, out]


def check_eval(ours, peer):
    a, b = json.loads(ours), json.loads(peer)
    if abs(float(a["total"]) - b["total"]) > 1e-6 * abs(b["total"]):
        return False
    d = os.path.join(WORK, "small")
    x, y = np.load(os.path.join(d, "grads-losscli.npz")), np.load(os.path.join(d, "grads-peer.npz"))
    return all(np.allclose(x[k], y[k], rtol=1e-5, atol=1e-12) for k in y.files)


WORKLOADS = [
    {
        "name": "pixel, total grads",
        "input": pixel_inputs,
        "losscli": lambda b, i: pixel_ours(b, i, total_only=True), "losscli_time": pixel_ours_time,
        "peer": lambda py, i: pixel_peer(py, i, "total"), "peer_time": pixel_peer_time,
        "peer_name": "torch+MMagic compute",
        "check": check_pixel,
        "memory": 1,
    },
    {
        "name": "pixel, total+term grads",
        "input": pixel_inputs,
        "losscli": pixel_ours, "losscli_time": pixel_ours_time,
        "peer": pixel_peer, "peer_time": pixel_peer_time,
        "peer_name": "torch+MMagic compute",
        "check": check_pixel,
        "memory": 4,
    },
    {
        "name": "eval process, 1x3x64x64",
        "input": eval_inputs,
        "losscli": eval_ours,
        "peer": eval_peer,
        "peer_name": "python+torch process",
        "check": check_eval,
    },
    perceptual_workload("perceptual 1x224 style0", (1, 3, 224, 224), 0.0, rss=True),
    perceptual_workload("perceptual 1x224 style1", (1, 3, 224, 224), 1.0),
    perceptual_workload("perceptual 4x256 style0", (4, 3, 256, 256), 0.0),
    {
        "name": "perceptual eval process",
        "input": lambda: perceptual_inputs((1, 3, 224, 224), 0.0),
        "losscli": lambda b, i: [b, "eval", "--config", i[0], "--input", f"x={i[1]}", "--input", f"gt={i[2]}", "--wrt", "x",
                                 "--grad-out", os.path.join(WORK, "perceptual", "g-losscli.npz"), "--format", "json"],
        "peer": lambda py, i: [py, "-c", TORCH_PERCEPTUAL_PROCESS, ORACLE_DIR, i[3], i[1], i[2],
                               os.path.join(WORK, "perceptual", "g-peer.npz")],
        "peer_name": "python+torch process",
        "check": lambda ours, peer: abs(json.loads(ours)["terms"]["perceptual_loss.perceptual"]["value"] - float(peer)) <= 1e-4 * abs(float(peer)),
    },
    {
        "name": "VGG19 .pth, 16 convs",
        "input": vgg19_legacy,
        "losscli": lambda b, path: [b, "inspect", path, "--key", "features.*", "--format", "json"],
        "peer": lambda py, path: [py, "-c", TORCH_WEIGHTS, path],
        "peer_name": "python torch.load",
        "check": check_weights,
        "rss": True,
    },
    {
        "name": "VGG19 .pth, vs load alone",
        "input": vgg19_legacy,
        "losscli": lambda b, path: [b, "inspect", path, "--key", "features.*", "--format", "json"],
        "peer": lambda py, path: [py, "-c", TORCH_WEIGHTS, path],
        "peer_time": lambda out: json.loads(out)["ms"] / 1e3,
        "peer_name": "torch.load in-process",
        "check": check_weights,
        "torch_only": True,
    },
    {
        "name": "inspect f32 384MiB .npy",
        "input": big_f32_npy,
        "losscli": lambda b, path: [b, "inspect", path, "--format", "json"],
        "peer": lambda py, path: [py, "-c", NUMPY_INSPECT, path],
        "peer_name": "numpy np.load+stats",
        "check": check_inspect,
        "numpy_only": True,
    },
]


def timed(cmd):
    """(wall seconds, stdout) of one process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate()
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd[:3])} ...\n{err}")
    return dt, out


def max_rss(cmd):
    """Peak resident memory (bytes) of one run of `cmd` (wait4's rusage, Linux: KiB)."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss * 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--only", default=None, help="run only workloads whose name contains this")
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build/release/losscli"))
    args = ap.parse_args()
    if not os.path.exists(args.bin):
        sys.exit(f"{args.bin} not found: run `make release` first")
    py = peer_python()
    if py is None:
        print("No python with torch + numpy found ($ORACLE_PYTHON, /tmp/oracle/venv/bin/python): timing losscli "
              "alone. To compare, make the reference environment with shared/oracle/oracle-setup and set "
              "ORACLE_PYTHON to the python it prints.\n")
    elif not os.path.exists(os.path.join(ORACLE_DIR, "mmoracle.py")):
        print(f"No {ORACLE_DIR}/mmoracle.py (set MMORACLE_DIR): the PyTorch+MMagic peers are skipped.\n")

    rows, notes, peer_first, ours_first = [], [], {}, {}
    for w in WORKLOADS:
        if args.only and args.only not in w["name"]:
            continue
        peer_py = sys.executable if w.get("numpy_only") else py
        has_peer = peer_py is not None and (w.get("numpy_only") or w.get("torch_only") or w.get("rss")
                                            or os.path.exists(os.path.join(ORACLE_DIR, "mmoracle.py")))
        inputs = w["input"]()
        ours_cmd = w["losscli"](args.bin, inputs)
        peer_cmd = w["peer"](peer_py, inputs) if has_peer else None
        ours_t = w.get("losscli_time")
        peer_t = w.get("peer_time")
        timed(ours_cmd)  # warm the page cache and both programs
        if peer_cmd:
            timed(peer_cmd)
        ours, peer, out_ours, out_peer = [], [], None, None
        for _ in range(args.reps):
            t, out_ours = timed(ours_cmd)
            ours.append(ours_t(out_ours) if ours_t else t)
            if peer_cmd:
                t, out_peer = timed(peer_cmd)
                peer.append(peer_t(out_peer) if peer_t else t)
            if ours_t is pixel_ours_time:
                ours_first.setdefault(w["name"], []).append(pixel_ours_cold(out_ours) * 1e3)
            if peer_cmd and peer_t is pixel_peer_time:
                peer_first.setdefault(w["name"], []).append(json.loads(out_peer)["first_ms"])
        if w["name"] in ours_first:
            cold = statistics.median(ours_first[w["name"]])
            line = f"{w['name']}: first (cold) evaluation of each process: losscli median {cold:.1f} ms"
            if w["name"] in peer_first:
                pc = statistics.median(peer_first[w["name"]])
                line += f", the peer's first step {pc:.1f} ms, ratio {cold / pc:.3f}"
            notes.append(line + " (the table compares warm steps: runs 2.. of each process on both sides)")
        agree = w["check"](out_ours, out_peer) if peer_cmd else None
        rows.append((w["name"], w["peer_name"] if peer_cmd else "-", statistics.median(ours),
                     statistics.median(peer) if peer else None, agree, min(ours), min(peer) if peer else None))
        if w.get("memory"):
            inputs_bytes = sum(os.path.getsize(p) - 128 for p in inputs[1:])
            # Gradients w.r.t. all three inputs: of the total, and with term gradients of each term too.
            grads_bytes = w["memory"] * inputs_bytes
            rss = max_rss(ours_cmd)
            line = (f"peak memory, {w['name']}: losscli max RSS {rss / 2**20:.0f} MiB = "
                    f"{rss / (inputs_bytes + grads_bytes):.2f} x the {(inputs_bytes + grads_bytes) / 2**20:.0f} MiB "
                    f"of inputs ({inputs_bytes / 2**20:.0f} MiB) and gradients ({grads_bytes / 2**20:.0f} MiB)")
            if peer_cmd:
                line += f"; peer process {max_rss(peer_cmd) / 2**20:.0f} MiB (with torch's libraries)"
            notes.append(line)
        if w.get("rss"):
            rss = max_rss(ours_cmd)
            line = f"peak memory, {w['name']}: losscli max RSS {rss / 2**20:.0f} MiB"
            if peer_cmd:
                base = max_rss([peer_py, "-c", "import torch"])
                peer_rss = max_rss(peer_cmd)
                line += (f"; peer process {peer_rss / 2**20:.0f} MiB ({(peer_rss - base) / 2**20:.0f} MiB above "
                         f"`import torch` alone), ratio {rss / peer_rss:.3f} ({rss / max(1, peer_rss - base):.3f} of the increment)")
            notes.append(line)

    print(f"{'workload':<26} {'peer':<22} {'losscli ms':>11} {'peer ms':>9} {'ratio':>7} {'best':>7}  same result")
    for name, peer_name, o, p, agree, ob, pb in rows:
        ps = f"{p * 1e3:>9.1f}" if p else f"{'-':>9}"
        rs = f"{o / p:>7.3f}" if p else f"{'-':>7}"
        bs = f"{ob / pb:>7.3f}" if pb else f"{'-':>7}"
        print(f"{name:<26} {peer_name:<22} {o * 1e3:>11.1f} {ps} {rs} {bs}  {'-' if agree is None else ('yes' if agree else 'NO')}")
    print(f"(median of {args.reps} interleaved runs; ratio = losscli/peer of the medians, best = of the fastest "
          f"runs; 'pixel' is in-process compute time, the others whole processes with a warm page cache)")
    for n in notes:
        print(n)


if __name__ == "__main__":
    main()
