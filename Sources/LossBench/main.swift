import Foundation

print("LossBench")
let only = ProcessInfo.processInfo.environment["LOSSBENCH"]
if only == nil || only == "core" { try CoreBench.run() }
if only == nil || only == "kernels" { KernelBench.run() }
if only == nil || only == "ops" { try OpBench.run() }
if only == nil || only == "pixel" { try PixelBench.run() }
