#!/usr/bin/env python3
"""Side-by-side benchmarks: losscli against its peer, in the same run.

Each workload names a losscli command and a peer command (NumPy, later PyTorch/MMagic)
that does the same work. Runs are interleaved (losscli, peer, losscli, peer, ...) so
both see the same machine state; the table shows the median wall time of each, as
whole processes, and the ratio losscli/peer (below 1: losscli is faster).

Inputs are generated under /tmp/losscli-bench (never in the repository) and reused.
Add a workload by appending to WORKLOADS.

    python3 bench/run.py [--reps N] [--only NAME] [--bin .build/release/losscli]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = "/tmp/losscli-bench"


def big_f32_npy():
    """A 384 MiB float32 .npy of 96 Mi standard normal values."""
    path = os.path.join(WORK, "f32_384mib.npy")
    n = 384 * 1024 * 1024 // 4
    if not os.path.exists(path) or os.path.getsize(path) != n * 4 + 128:
        os.makedirs(WORK, exist_ok=True)
        a = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
        np.save(path + ".tmp.npy", a)
        os.replace(path + ".tmp.npy", path)
    return path


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


WORKLOADS = [
    {
        "name": "inspect f32 384MiB .npy",
        "input": big_f32_npy,
        "losscli": lambda bin, path: [bin, "inspect", path, "--format", "json"],
        "peer": lambda path: [sys.executable, "-c", NUMPY_INSPECT, path],
        "peer_name": "numpy np.load+stats",
        "check": check_inspect,
    },
]


def timed(cmd):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd[:3])} ...\n{r.stderr}")
    return dt, r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--only", default=None, help="run only workloads whose name contains this")
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build/release/losscli"))
    args = ap.parse_args()
    if not os.path.exists(args.bin):
        sys.exit(f"{args.bin} not found: run `make release` first")

    rows = []
    for w in WORKLOADS:
        if args.only and args.only not in w["name"]:
            continue
        path = w["input"]()
        ours_cmd, peer_cmd = w["losscli"](args.bin, path), w["peer"](path)
        timed(ours_cmd), timed(peer_cmd)  # warm the page cache and both programs
        ours, peer = [], []
        for _ in range(args.reps):
            t, out_ours = timed(ours_cmd)
            ours.append(t)
            t, out_peer = timed(peer_cmd)
            peer.append(t)
        agree = w["check"](out_ours, out_peer) if "check" in w else None
        rows.append((w["name"], w["peer_name"], statistics.median(ours), statistics.median(peer), agree))

    print(f"{'workload':<28} {'peer':<22} {'losscli ms':>11} {'peer ms':>9} {'ratio':>7}  same result")
    for name, peer_name, o, p, agree in rows:
        print(f"{name:<28} {peer_name:<22} {o * 1e3:>11.1f} {p * 1e3:>9.1f} {o / p:>7.3f}  {'-' if agree is None else ('yes' if agree else 'NO')}")
    print(f"(median of {args.reps} interleaved runs, whole processes, warm page cache; ratio = losscli/peer)")


if __name__ == "__main__":
    main()
