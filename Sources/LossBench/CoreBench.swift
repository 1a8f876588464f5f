import Foundation
import LossKit

/// Bandwidth of LossKit's elementwise and reduction kernels against a memcpy of the same bytes.
/// GB/s counts bytes read plus bytes written (memcpy: 2 × size). `CORE_BENCH=word` runs only
/// the lines whose name contains `word`.
enum CoreBench {
    static let filter = ProcessInfo.processInfo.environment["CORE_BENCH"]
    nonisolated(unsafe) static var memcpyTime = 0.0

    static func cpuSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Best wall time of `reps` runs, and the process CPU time of that run (the machine is
    /// shared, so wall time alone can include time spent descheduled).
    static func seconds(_ reps: Int, _ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity
        for _ in 0..<reps {
            let c0 = cpuSeconds()
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            let wall = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            if wall < best { best = wall; lastCPU = cpuSeconds() - c0 }
        }
        return best
    }
    nonisolated(unsafe) static var lastCPU = 0.0

    /// Times `body` (best of `reps`) and prints ms, GB/s and the ratio to the memcpy time.
    static func measure(_ name: String, bytes: Int, reps: Int = 5, _ body: () throws -> Void) rethrows {
        guard filter.map({ name.contains($0) }) ?? true else { return }
        let s = try seconds(reps, body)
        let padded = name.padding(toLength: 48, withPad: " ", startingAt: 0)
        print("\(padded) \(String(format: "%8.2f ms %7.2f GB/s   %5.2fx memcpy time   (cpu %7.2f ms)", s * 1e3, Double(bytes) / s / 1e9, s / memcpyTime, lastCPU * 1e3))")
    }

    static func run() throws {
        let n = 25_000_000
        if let t = ProcessInfo.processInfo.environment["CORE_THREADS"].flatMap(Int.init), t > 0 { LossKitRuntime.threads = t }
        print("core kernels: \(n) elements, \(LossKitRuntime.threads) threads; memcpy copies \(n * 4 / 1_000_000) MB")
        let src = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64)
        let dst = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64)
        defer { src.deallocate(); dst.deallocate() }
        memset(src, 1, n * 4); memset(dst, 2, n * 4)
        memcpyTime = seconds(5) { memcpy(dst, src, n * 4) }
        print("\("memcpy".padding(toLength: 48, withPad: " ", startingAt: 0)) \(String(format: "%8.2f ms %7.2f GB/s                      (cpu %7.2f ms)", memcpyTime * 1e3, Double(2 * n * 4) / memcpyTime / 1e9, lastCPU * 1e3))")

        let values = (0..<n).map { Float(($0 % 1000)) * 0.001 - 0.4 }
        let a = try Tensor(shape: [n], float32: values)
        let b = try Tensor(shape: [n], float32: values.reversed())
        try measure("fill (zeros) f32", bytes: n * 4) { _ = try Tensor.zeros(shape: [n]) }
        try measure("add a+b f32", bytes: 3 * n * 4) { _ = try a + b }
        measure("mul by scalar f32", bytes: 2 * n * 4) { _ = a * 0.5 }
        measure("sqrt f32", bytes: 2 * n * 4) { _ = a.sqrt() }
        // Transcendentals (Kernels/VectorMath.swift): inputs over [-10, 10) so that every branch of
        // the range reduction is taken, and (0, 10) for log.
        let wide = try Tensor(shape: [n], float32: (0..<n).map { Float($0 % 1000) * 0.02 - 10 })
        let positive = try Tensor(shape: [n], float32: (0..<n).map { Float($0 % 1000) * 0.01 + 0.005 })
        measure("exp f32", bytes: 2 * n * 4) { _ = wide.exp() }
        measure("log f32", bytes: 2 * n * 4) { _ = positive.log() }
        measure("tanh f32", bytes: 2 * n * 4) { _ = wide.tanh() }
        measure("sigmoid f32", bytes: 2 * n * 4) { _ = wide.sigmoid() }
        measure("softplus f32", bytes: 2 * n * 4) { _ = wide.softplus() }
        let wide64 = try wide.slice(dim: 0, end: n / 2).to(.float64)
        measure("exp f64 (12.5M elements)", bytes: 2 * n * 4) { _ = wide64.exp() }
        try measure("broadcast (5000,5000)+(5000,) f32", bytes: 2 * n * 4) {
            _ = try a.reshape([5000, 5000]) + b.slice(dim: 0, end: 5000)
        }
        measure("sum f32 (float64 accumulation)", bytes: n * 4) { _ = a.sum() }
        try measure("sum dim 0 of (5000,5000) f32", bytes: n * 4) { _ = try a.reshape([5000, 5000]).sum(dims: [0]) }
        try measure("sum dim 1 of (5000,5000) f32", bytes: n * 4) { _ = try a.reshape([5000, 5000]).sum(dims: [1]) }
        let a64 = try a.slice(dim: 0, end: n / 2).to(.float64)
        try measure("add a+a f64 (12.5M elements)", bytes: 3 * n * 4) { _ = try a64 + a64 }
        measure("sum f64 (12.5M elements)", bytes: n * 4) { _ = a64.sum() }

        // Charbonnier loss forward + backward (MMagic CharbonnierLoss, reduction mean).
        let eps = 1e-12
        let pred = a.requiringGrad()
        // Unfused: every op is a pass over 100 MB; counted bytes are the fused minimum.
        try measure("charbonnier fwd+bwd, unfused ops", bytes: 5 * n * 4, reps: 3) {
            let loss = try ((pred - b).square() + eps).sqrt().mean()
            _ = try grad(loss, wrt: [pred])
        }
        // Fused: forward reads p, t; backward reads p, t and writes ∂p (5 × 100 MB).
        try measure("charbonnier fwd+bwd, fusedSum", bytes: 5 * n * 4) {
            let loss = try Tensor.fusedSum([pred, b]) { x in ((x[0] - x[1]).square() + eps).sqrt() } / Double(n)
            _ = try grad(loss, wrt: [pred])
        }
        try measure("charbonnier forward only, fusedSum", bytes: 2 * n * 4) {
            _ = try Tensor.fusedSum([a, b]) { x in ((x[0] - x[1]).square() + eps).sqrt() }
        }
        try measure("fusedMap a-b", bytes: 3 * n * 4) {
            _ = try Tensor.fusedMap([a, b]) { x in x[0] - x[1] }
        }
        // A weight broadcast over channels (N, 1, H, W) against (N, C, H, W), gathered per block.
        let w = try a.slice(dim: 0, end: n / 5).reshape([4, 1, 1250, 1000])
        let a5 = try a.reshape([4, 5, 1250, 1000]), b5 = try b.reshape([4, 5, 1250, 1000])
        try measure("fusedSum |a-b|*w, w broadcast over C", bytes: 2 * n * 4 + n / 5 * 4) {
            _ = try Tensor.fusedSum([a5, b5, w]) { x in (x[0] - x[1]).abs() * x[2] }
        }
        try measure("fusedSum |a-b|*w, w expanded first", bytes: 2 * n * 4 + n / 5 * 4) {
            _ = try Tensor.fusedSum([a5, b5, w.expand(to: a5.shape)]) { x in (x[0] - x[1]).abs() * x[2] }
        }
        try measure("fusedSum a-b", bytes: 2 * n * 4) {
            _ = try Tensor.fusedSum([a, b]) { x in x[0] - x[1] }
        }
    }
}
