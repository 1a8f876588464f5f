import Foundation
import LossKit

/// Workload 1 of `make bench` (L1 + MSE + Charbonnier(sample_wise) with an (8,1,512,512)
/// weight on (8,3,512,512) float32) inside one process: the first (cold) evaluation and then
/// warm ones, forward and backward apart, for profiling the engine without process start,
/// file loading or page faults of the first run. `LOSSBENCH=pixel` runs only this.
enum PixelBench {
    static func run() throws {
        // PIXEL_STREAM=0: plain stores for large fused outputs (A/B against non-temporal ones).
        if ProcessInfo.processInfo.environment["PIXEL_STREAM"] == "0" {
            try LossKitTesting.withoutStreamingStores { try measure() }
        } else {
            try measure()
        }
    }

    static func measure() throws {
        let program = try LossProgram(jsonText: """
            {"losses": {"l1_loss": {"type": "L1Loss"}, "mse_loss": {"type": "MSELoss"},
                        "charb_loss": {"type": "CharbonnierLoss", "sample_wise": true}}}
            """)
        var state: UInt64 = 0x9E3779B97F4A7C15
        func uniform() -> Float {  // xorshift64*: cheap, so generating 58 MB does not dominate a profile
            state ^= state >> 12; state ^= state << 25; state ^= state >> 27
            return Float((state &* 0x2545F4914F6CDD1D) >> 40) / Float(1 << 24)
        }
        let n = 8 * 3 * 512 * 512
        let pred = try Tensor(shape: [8, 3, 512, 512], float32: (0..<n).map { _ in uniform() })
        let target = try Tensor(shape: [8, 3, 512, 512], float32: (0..<n).map { _ in uniform() })
        let weight = try Tensor(shape: [8, 1, 512, 512], float32: (0..<n / 3).map { _ in uniform() > 0.3 ? 1 : 0 })
        let inputs = ["pred": pred, "target": target, "weight": weight]
        for termGradients in [false, true] {
            print("pixel workload, \(termGradients ? "total + term" : "total-only") gradients, \(LossKitRuntime.threads) threads")
            for rep in 0..<6 {
                let c0 = CoreBench.cpuSeconds()
                let t0 = DispatchTime.now().uptimeNanoseconds
                let forward = try program.forward(inputs: inputs, options: EvaluationOptions(termGradients: termGradients))
                let t1 = DispatchTime.now().uptimeNanoseconds
                let e = try forward.backward()
                let t2 = DispatchTime.now().uptimeNanoseconds
                let cpu = CoreBench.cpuSeconds() - c0
                print(String(format: "  %@ forward %7.2f ms  backward %7.2f ms  (process cpu %7.2f ms)  total %.7g", rep == 0 ? "cold" : "warm",
                             Double(t1 - t0) / 1e6, Double(t2 - t1) / 1e6, cpu * 1e3, e.total))
            }
        }
    }
}
