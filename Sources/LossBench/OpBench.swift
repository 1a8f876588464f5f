import Foundation
import LossKit

/// Overhead of the differentiable op layer over the raw kernels: conv2d forward + input
/// gradient through `conv2d` and `grad` (graph recording, tensor allocation, the backward
/// pass) against `conv2dForward` + `conv2dBackwardInput` on the same sizes.
/// `LOSSBENCH_ONLY=ops` runs only this (with `CORE_BENCH=none` to skip the core lines).
enum OpBench {
    static func conv3x3(batch: Int, channels: Int, size: Int, dtype: DType) throws {
        let g = try Conv2dGeometry(input: [batch, channels, size, size], weight: [channels, channels, 3, 3], padding: (1, 1))
        func values(_ n: Int, _ seed: UInt64) -> [Double] { KernelBench.filled(n, seed: seed, Double.self) }
        let xv = values(g.inputShape.reduce(1, *), 3), wv = values(g.weightShape.reduce(1, *), 4)
        let gyv = values(g.outputShape.reduce(1, *), 5)
        let flops = 2 * 2.0 * Double(g.outputShape.reduce(1, *)) * Double(channels * 9)   // fwd + dx

        func raw<T: KernelFloat>(_: T.Type) -> Double {
            let x = xv.map { T($0) }, w = wv.map { T($0) }, gy = gyv.map { T($0) }
            var y = [T](repeating: 0, count: gy.count), gx = x
            return KernelBench.best(reps: 9) {
                conv2dForward(g, input: x, weight: w, bias: nil, output: &y)
                conv2dBackwardInput(g, gradOutput: gy, weight: w, gradInput: &gx)
            }
        }
        let tRaw = dtype == .float32 ? raw(Float.self) : raw(Double.self)

        let x = try Tensor(shape: g.inputShape, values: xv, dtype: dtype).requiringGrad()
        let w = try Tensor(shape: g.weightShape, values: wv, dtype: dtype)
        let gy = try Tensor(shape: g.outputShape, values: gyv, dtype: dtype)
        let tOp = KernelBench.best(reps: 9) {
            guard let y = try? conv2d(x, w, padding: (1, 1)),
                  let gx = try? grad(y, wrt: [x], gradOutput: gy) else { fatalError("benchmark op failed") }
            _ = gx
        }
        print(String(format: "conv3x3 %@ %d->%d %dx%d fwd+dx  raw kernels %7.1f GFLOP/s   op layer %7.1f GFLOP/s   (op/raw time %.3f)",
                     dtype.description, channels, channels, size, size, flops / tRaw / 1e9, flops / tOp / 1e9, tOp / tRaw))
    }

    static func run() throws {
        let only = ProcessInfo.processInfo.environment["LOSSBENCH_ONLY"] ?? ""
        guard only.isEmpty || only == "ops" else { return }
        if let t = ProcessInfo.processInfo.environment["LOSSBENCH_THREADS"], let n = Int(t), n > 0 {
            LossKitRuntime.threads = n
        }
        print("ops: threads=\(LossKitRuntime.threads) clock=\(KernelBench.threadClock ? "thread CPU" : "wall")")
        try conv3x3(batch: 1, channels: 64, size: 112, dtype: .float32)
        try conv3x3(batch: 1, channels: 64, size: 56, dtype: .float64)
        try conv3x3(batch: 4, channels: 16, size: 32, dtype: .float32)
    }
}
