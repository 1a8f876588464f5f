import Foundation
import LossKit

/// Side-by-side numbers for the image and linear-algebra kernels (peer: bench/peer_kernels.py).
enum KernelBench {
    static func seconds(_ body: () -> Void) -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    }

    /// Median of `reps` timings after one warm-up run.
    static func median(reps: Int, _ body: () -> Void) -> Double {
        body()
        var times: [Double] = []
        for _ in 0..<reps { times.append(seconds(body)) }
        times.sort()
        return times[times.count / 2]
    }

    static func filled<T: KernelFloat>(_ n: Int, seed: UInt64, _: T.Type) -> [T] {
        var s = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return T(Double(Int64(bitPattern: s >> 11) % 2001) / 1000.0 - 1.0)
        }
    }

    static func matmul<T: KernelFloat>(_ size: Int, _: T.Type) -> Double {
        let a = filled(size * size, seed: 1, T.self)
        let b = filled(size * size, seed: 2, T.self)
        var c = [T](repeating: 0, count: size * size)
        let t = median(reps: 5) {
            c.withUnsafeMutableBufferPointer { cp in
                gemm(transA: false, transB: false, m: size, n: size, k: size, alpha: 1,
                     a: a, lda: size, b: b, ldb: size, beta: 0, c: cp.baseAddress!, ldc: size)
            }
        }
        return 2.0 * Double(size * size * size) / t / 1e9
    }

    static func run() {
        if let t = ProcessInfo.processInfo.environment["LOSSBENCH_THREADS"], let n = Int(t), n > 0 {
            LossKitRuntime.threads = n
        }
        print("kernels: threads=\(LossKitRuntime.threads)")
        for size in [256, 512, 1024] {
            let gf = matmul(size, Float.self)
            print(String(format: "matmul f32 %4d^3: %7.1f GFLOP/s", size, gf))
        }
        let gd = matmul(512, Double.self)
        print(String(format: "matmul f64  512^3: %7.1f GFLOP/s", gd))
    }
}
