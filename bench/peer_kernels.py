#!/usr/bin/env python3
"""PyTorch peer of LossBench's kernel numbers (Sources/LossBench/KernelBench.swift).

    /tmp/oracle/venv/bin/python bench/peer_kernels.py [threads] [wall|thread]

Same workloads, same flop counts, best of the same number of runs after one warm-up.
"""
import sys
import time

import torch
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(threads)
# "thread": the calling thread's CPU time (meaningful with 1 thread, where torch computes on
# the caller), immune to other processes' time slices on a shared machine.
clock = time.thread_time if (len(sys.argv) > 2 and sys.argv[2] == "thread") else time.perf_counter


def best(reps, fn):
    """Best of `reps` runs after a warm-up (the machine is shared; LossBench does the same)."""
    fn()
    times = []
    for _ in range(reps):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return min(times)


def matmul(n, dtype):
    a = torch.rand(n, n, dtype=dtype) * 2 - 1
    b = torch.rand(n, n, dtype=dtype) * 2 - 1
    return 2.0 * n ** 3 / best(5, lambda: torch.mm(a, b)) / 1e9


def conv3x3(batch, channels, size, dtype, out_channels=None):
    oc = out_channels or channels
    x = torch.rand(batch, channels, size, size, dtype=dtype) * 2 - 1
    w = torch.rand(oc, channels, 3, 3, dtype=dtype) * 2 - 1
    gy = torch.rand(batch, oc, size, size, dtype=dtype) * 2 - 1
    flops = 2.0 * batch * oc * size * size * channels * 9
    with torch.no_grad():
        tf = best(9, lambda: F.conv2d(x, w, padding=1))
        # The input and weight gradients as autograd computes them (ATen's backward ops).
        tx = best(9, lambda: torch.ops.aten.convolution_backward(
            gy, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [True, False, False]))
        tw = best(5, lambda: torch.ops.aten.convolution_backward(
            gy, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [False, True, False]))
    return flops / tf / 1e9, flops / tx / 1e9, flops / tw / 1e9


print(f"torch {torch.__version__}: threads={torch.get_num_threads()} clock={'thread CPU' if clock is time.thread_time else 'wall'}  (GFLOP/s, best of 5-9 runs)")
for n in [256, 512, 1024]:
    print(f"matmul f32 {n:4d}^3            {matmul(n, torch.float32):7.1f}")
print(f"matmul f64  512^3            {matmul(512, torch.float64):7.1f}")
f, x, w = conv3x3(1, 64, 112, torch.float32)
print(f"conv3x3 f32 64->64 112x112  fwd {f:7.1f}  dx {x:7.1f}  dw {w:7.1f}  fwd+dx {2 / (1 / f + 1 / x):7.1f}")
f, x, w = conv3x3(1, 64, 56, torch.float64)
print(f"conv3x3 f64 64->64 56x56    fwd {f:7.1f}  dx {x:7.1f}  dw {w:7.1f}  fwd+dx {2 / (1 / f + 1 / x):7.1f}")


def image_ops():
    x = torch.rand(1, 64, 224, 224, requires_grad=True)

    def report(label, fwd):
        y = fwd()
        gy = torch.rand_like(y)
        tf = best(5, fwd)
        tb = best(5, lambda: torch.autograd.grad(y, x, gy, retain_graph=True))
        print(f"{label:<44}fwd {tf * 1e3:7.2f} ms  bwd {tb * 1e3:7.2f} ms")

    report("max_pool2d 2x2 (1,64,224,224)", lambda: F.max_pool2d(x, 2))
    report("avg_pool2d 3x3 s1 p1 (1,64,224,224)", lambda: F.avg_pool2d(x, 3, 1, 1))
    report("adaptive_avg_pool2d 7x7 (1,64,224,224)", lambda: F.adaptive_avg_pool2d(x, 7))
    for mode in ["nearest", "bilinear", "bicubic"]:
        kw = {} if mode == "nearest" else {"align_corners": False}
        report(f"interpolate {mode} x2 (1,64,224,224)", lambda: F.interpolate(x, size=(448, 448), mode=mode, **kw))


image_ops()

# VGG19's features[:35] on (1,3,224,224), as LossBench's vggLayers (forward and input gradient).
total_s = total_f = 0.0
for cin, cout, size, count in [(3, 64, 224, 1), (64, 64, 224, 1), (64, 128, 112, 1), (128, 128, 112, 1), (128, 256, 56, 1),
                               (256, 256, 56, 3), (256, 512, 28, 1), (512, 512, 28, 3), (512, 512, 14, 4)]:
    f, x, _ = conv3x3(1, cin, size, torch.float32, cout)
    fl = 2.0 * cout * size * size * cin * 9
    total_s += count * (fl / f + fl / x) / 1e9
    total_f += count * 2 * fl
    print(f"vgg19 conv {cin:3d}->{cout:3d} {size:3d}x{size:<3d} x{count}  fwd {f:7.1f}  dx {x:7.1f}")
print(f"vgg19 convs 0-34 fwd+dx: {total_s * 1e3:.1f} ms, {total_f / total_s / 1e9:.1f} GFLOP/s")
