import Foundation
import LossKit

/// Bandwidth of LossKit's elementwise and reduction kernels against a memcpy of the same bytes.
/// GB/s counts bytes read plus bytes written (memcpy: 2 × size).
enum CoreBench {
    static func seconds(_ reps: Int = 5, _ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity
        for _ in 0..<reps {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return best
    }

    static func line(_ name: String, bytes: Int, _ s: Double, baseline: Double? = nil) {
        var text = "\(name.padding(toLength: 46, withPad: " ", startingAt: 0)) \(String(format: "%8.2f ms %7.2f GB/s", s * 1e3, Double(bytes) / s / 1e9))"
        if let b = baseline { text += String(format: "   %.2fx memcpy time", s / b) }
        print(text)
    }

    static func run() throws {
        let n = 25_000_000
        print("core kernels: \(n) elements, \(LossKitRuntime.threads) threads")
        let src = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64)
        let dst = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64)
        defer { src.deallocate(); dst.deallocate() }
        memset(src, 1, n * 4); memset(dst, 2, n * 4)
        let memcpyTime = seconds { memcpy(dst, src, n * 4) }
        line("memcpy 100 MB", bytes: 2 * n * 4, memcpyTime)

        let values = (0..<n).map { Float(($0 % 1000)) * 0.001 - 0.4 }
        let a = try Tensor(shape: [n], float32: values)
        let b = try Tensor(shape: [n], float32: values.reversed())
        line("fill (zeros) f32", bytes: n * 4, try seconds { _ = try Tensor.zeros(shape: [n]) })
        line("add a+b f32", bytes: 3 * n * 4, try seconds { _ = try a + b }, baseline: memcpyTime)
        line("mul by scalar f32", bytes: 2 * n * 4, seconds { _ = a * 0.5 }, baseline: memcpyTime)
        line("sqrt(|a|) f32 (2 ops)", bytes: 4 * n * 4, seconds { _ = a.abs().sqrt() })
        line("exp f32 (scalar libm)", bytes: 2 * n * 4, seconds { _ = a.exp() })
        line("broadcast (5000,5000)+(5000,) f32", bytes: 2 * n * 4, try seconds {
            _ = try a.reshape([5000, 5000]) + b.slice(dim: 0, end: 5000)
        })
        line("sum f32 (float64 accumulation)", bytes: n * 4, seconds { _ = a.sum() }, baseline: memcpyTime)
        line("sum dim 0 of (5000,5000) f32", bytes: n * 4, try seconds { _ = try a.reshape([5000, 5000]).sum(dims: [0]) })
        line("sum dim 1 of (5000,5000) f32", bytes: n * 4, try seconds { _ = try a.reshape([5000, 5000]).sum(dims: [1]) })
        let a64 = a.to(.float64)
        line("add a+a f64 (12.5M-element equivalent bytes x2)", bytes: 3 * n * 8, try seconds { _ = try a64 + a64 })
        line("sum f64", bytes: n * 8, seconds { _ = a64.sum() })

        // Charbonnier loss forward + backward (MMagic CharbonnierLoss, reduction mean).
        let eps = 1e-12
        let pred = a.requiringGrad()
        let unfused = try seconds(3) {
            let loss = try ((pred - b).square() + eps).sqrt().mean()
            _ = try grad(loss, wrt: [pred])
        }
        line("charbonnier fwd+bwd, unfused ops", bytes: 2 * n * 4, unfused, baseline: memcpyTime)
    }
}
