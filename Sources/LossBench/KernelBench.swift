import Foundation
import LossKit

/// Side-by-side numbers for the image and linear-algebra kernels (peer: bench/peer_kernels.py).
///
///     swift build -c release --product LossBench && .build/release/LossBench
///     /tmp/oracle/venv/bin/python bench/peer_kernels.py 2          # torch, 2 threads
///
/// Environment: `LOSSBENCH_THREADS=n` (default: all cores), `LOSSBENCH_ONLY=matmul|small|image|conv|vgg|pair`
/// (`pair` runs only when named),
/// `LOSSBENCH_CLOCK=thread` (with one thread; the peer takes `1 thread` as arguments).
enum KernelBench {
    /// `LOSSBENCH_CLOCK=thread` times with the calling thread's CPU clock instead of the wall
    /// clock: with one thread all work runs on the caller, and CPU time does not count the
    /// time slices other processes take on a shared machine.
    static let threadClock = ProcessInfo.processInfo.environment["LOSSBENCH_CLOCK"] == "thread"

    static func now() -> Double {
        if threadClock {
            var ts = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        }
        return Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }

    static func seconds(_ body: () -> Void) -> Double {
        let t0 = now()
        body()
        return now() - t0
    }

    /// Best of `reps` timings after one warm-up run: on a machine shared with other jobs
    /// the fastest run is the stable estimate of what the kernel can do (the peer script
    /// measures the same way).
    static func best(reps: Int, _ body: () -> Void) -> Double {
        body()
        var times: [Double] = []
        for _ in 0..<reps { times.append(seconds(body)) }
        return times.min() ?? .nan
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
        let t = best(reps: 5) {
            c.withUnsafeMutableBufferPointer { cp in
                gemm(transA: false, transB: false, m: size, n: size, k: size, alpha: 1,
                     a: a, lda: size, b: b, ldb: size, beta: 0, c: cp.baseAddress!, ldc: size)
            }
        }
        return 2.0 * Double(size * size * size) / t / 1e9
    }

    /// conv2d 3×3, stride 1, padding 1: forward, input gradient, weight gradient (GFLOP/s,
    /// each counted as 2·N·OC·OH·OW·C·9 flops).
    static func conv3x3<T: KernelFloat>(batch: Int, channels: Int, size: Int, outChannels: Int? = nil, weightGradient: Bool = true,
                                        algorithm: Conv2dAlgorithm = .automatic, cached: Bool = false,
                                        _: T.Type) -> (fwd: Double, dx: Double, dw: Double) {
        let oc = outChannels ?? channels
        guard let g = try? Conv2dGeometry(input: [batch, channels, size, size], weight: [oc, channels, 3, 3],
                                          padding: (1, 1)) else { return (0, 0, 0) }
        let x = filled(g.inputShape.reduce(1, *), seed: 3, T.self)
        let w = filled(g.weightShape.reduce(1, *), seed: 4, T.self)
        let gy = filled(g.outputShape.reduce(1, *), seed: 5, T.self)
        var y = [T](repeating: 0, count: gy.count), gx = x, gw = w
        let flops = 2.0 * Double(g.outputShape.reduce(1, *)) * Double(channels * 9)
        let cache = cached ? WinogradFilterCache() : nil  // as a network layer holds it
        let tf = best(reps: 9) { conv2dForward(g, input: x, weight: w, bias: nil, output: &y, algorithm: algorithm, winogradCache: cache) }
        let tx = best(reps: 9) {
            conv2dBackwardInput(g, gradOutput: gy, weight: w, gradInput: &gx, algorithm: algorithm, winogradCache: cache)
        }
        let tw = weightGradient ? best(reps: 5) { conv2dBackwardWeight(g, gradOutput: gy, input: x, gradWeight: &gw) } : .infinity
        return (flops / tf / 1e9, flops / tx / 1e9, flops / tw / 1e9)
    }

    /// VGG19's convolutions 0–34 at 224²: the distinct shapes, and how many layers have each.
    static let vgg19Convs: [(cin: Int, cout: Int, size: Int, count: Int)] = [
        (3, 64, 224, 1), (64, 64, 224, 1), (64, 128, 112, 1), (128, 128, 112, 1), (128, 256, 56, 1),
        (256, 256, 56, 3), (256, 512, 28, 1), (512, 512, 28, 3), (512, 512, 14, 4),
    ]

    /// The convolutions of VGG19's features[:35] on a (1,3,224,224) image (PerceptualLoss's
    /// default layers): forward and input gradient per distinct shape, float32, with the
    /// implicit-im2col GEMM, with Winograd F(2×2, 3×3), as `.automatic` picks, and as
    /// `.automatic` with a network layer's WinogradFilterCache (filters transformed once), and the
    /// time of the whole set (weighted by how many layers have each shape) for each; the
    /// difference of the last two is the filter transforms' cost per step. GFLOP/s count
    /// the direct convolution's 2·OC·OH·OW·C·9 for every algorithm.
    static func vggLayers() {
        let layers = vgg19Convs
        let algorithms: [(String, Conv2dAlgorithm, Bool)] = [("gemm", .gemm, false), ("winograd", .winograd, false),
                                                             ("automatic", .automatic, false), ("cached", .automatic, true)]
        var seconds = [Double](repeating: 0, count: algorithms.count), flops = 0.0
        print("vgg19 conv layer                    " + algorithms.map { $0.0.padding(toLength: 9, withPad: " ", startingAt: 0) + " fwd     dx" }.joined(separator: "   "))
        for l in layers {
            let f = 2.0 * Double(l.cout * l.size * l.size * l.cin * 9)
            flops += Double(l.count) * 2 * f
            var line = String(format: "vgg19 conv %3d->%3d %3dx%-3d x%d     ", l.cin, l.cout, l.size, l.size, l.count)
            for (i, a) in algorithms.enumerated() {
                let c = conv3x3(batch: 1, channels: l.cin, size: l.size, outChannels: l.cout, weightGradient: false,
                                algorithm: a.1, cached: a.2, Float.self)
                seconds[i] += Double(l.count) * (f / c.fwd + f / c.dx) / 1e9
                line += String(format: "%@ %7.1f %7.1f   ", "".padding(toLength: 9, withPad: " ", startingAt: 0), c.fwd, c.dx)
            }
            print(line)
        }
        for (i, a) in algorithms.enumerated() {
            print(String(format: "vgg19 convs 0-34 fwd+dx, %@: %.1f ms, %.1f GFLOP/s", a.0, seconds[i] * 1e3, flops / seconds[i] / 1e9))
        }
        print(String(format: "vgg19 winograd filter transforms (automatic - cached), both orientations: %.1f ms",
                     (seconds[2] - seconds[3]) * 1e3))
    }

    /// VGG19's convolutions 2–34 run forward on a prediction and a target of (1, C, H, W), as
    /// the perceptual loss runs them: in one `conv2dForward(inputs:)` call (one Winograd pass
    /// over both inputs' tiles) against one call per input, filters cached, interleaved, the
    /// median of 15 of each (ms), per layer and weighted by the layers of each shape.
    static func pairLayers() {
        var tp = 0.0, ts = 0.0
        for l in vgg19Convs.dropFirst() {
            guard let g = try? Conv2dGeometry(input: [1, l.cin, l.size, l.size], weight: [l.cout, l.cin, 3, 3], padding: (1, 1)) else { continue }
            let x1 = filled(g.inputShape.reduce(1, *), seed: 3, Float.self), x2 = filled(g.inputShape.reduce(1, *), seed: 6, Float.self)
            let w = filled(g.weightShape.reduce(1, *), seed: 4, Float.self)
            let o = g.outputShape.reduce(1, *)
            let y1 = UnsafeMutablePointer<Float>.allocate(capacity: o), y2 = UnsafeMutablePointer<Float>.allocate(capacity: o)
            defer { y1.deallocate(); y2.deallocate() }
            let cache = WinogradFilterCache()
            var pair: [Double] = [], single: [Double] = []
            x1.withUnsafeBufferPointer { a in x2.withUnsafeBufferPointer { b in w.withUnsafeBufferPointer { wp in
                for _ in 0..<15 {
                    pair.append(seconds { conv2dForward(g, inputs: [a.baseAddress!, b.baseAddress!], weight: wp.baseAddress!, bias: nil, outputs: [y1, y2], winogradCache: cache) })
                    single.append(seconds {
                        conv2dForward(g, inputs: [a.baseAddress!], weight: wp.baseAddress!, bias: nil, outputs: [y1], winogradCache: cache)
                        conv2dForward(g, inputs: [b.baseAddress!], weight: wp.baseAddress!, bias: nil, outputs: [y2], winogradCache: cache)
                    })
                }
            } } }
            let p = pair.sorted()[7], s1 = single.sorted()[7]
            tp += Double(l.count) * p; ts += Double(l.count) * s1
            print(String(format: "pair %3d->%3d %3d: one call %.2f ms, two calls %.2f ms (medians of 15; fastest %.2f / %.2f)",
                         l.cin, l.cout, l.size, p * 1e3, s1 * 1e3, (pair.min() ?? .nan) * 1e3, (single.min() ?? .nan) * 1e3))
        }
        print(String(format: "pair total fwd x2 (layers 2-34): one call %.1f ms, two calls %.1f ms", tp * 1e3, ts * 1e3))
    }

    /// Forward + input gradient of small-group convolutions with either algorithm (ms).
    static func smallGroups(_ label: String, input: [Int], weight: [Int], padding: Int, groups: Int) {
        guard let g = try? Conv2dGeometry(input: input, weight: weight, padding: (padding, padding), groups: groups)
        else { return }
        let x = filled(g.inputShape.reduce(1, *), seed: 3, Float.self)
        let w = filled(g.weightShape.reduce(1, *), seed: 4, Float.self)
        let gy = filled(g.outputShape.reduce(1, *), seed: 5, Float.self)
        var y = [Float](repeating: 0, count: gy.count), gx = x
        var line = label.padding(toLength: 34, withPad: " ", startingAt: 0)
        for algorithm in [Conv2dAlgorithm.gemm, .direct] {
            let reps = weight[2] > 9 ? 3 : 7
            let tf = best(reps: reps) { conv2dForward(g, input: x, weight: w, bias: nil, output: &y, algorithm: algorithm) }
            let tx = best(reps: reps) { conv2dBackwardInput(g, gradOutput: gy, weight: w, gradInput: &gx, algorithm: algorithm) }
            line += String(format: "  %@ fwd %8.2f ms dx %8.2f ms", "\(algorithm)", tf * 1e3, tx * 1e3)
        }
        print(line)
    }

    /// Pooling and resampling, forward and adjoint, in ms (float32).
    static func imageOps() {
        let x = filled(64 * 224 * 224, seed: 6, Float.self)
        var y = [Float](repeating: 0, count: 64 * 448 * 448)
        var gx = [Float](repeating: 0, count: x.count)
        func report(_ label: String, _ fwd: () -> Void, _ bwd: () -> Void) {
            let tf = best(reps: 5, fwd), tb = best(reps: 5, bwd)
            print(label.padding(toLength: 44, withPad: " ", startingAt: 0)
                  + String(format: "fwd %7.2f ms  bwd %7.2f ms", tf * 1e3, tb * 1e3))
        }
        if let g = try? Pool2dGeometry(input: [1, 64, 224, 224], kernel: (2, 2)) {
            var idx = [Int](repeating: 0, count: g.outputShape.reduce(1, *))
            report("max_pool2d 2x2 (1,64,224,224)", { maxPool2dForward(g, input: x, output: &y, indices: &idx) },
                   { maxPool2dBackward(g, indices: idx, gradOutput: y, gradInput: &gx) })
        }
        if let g = try? Pool2dGeometry(op: "avg_pool2d", input: [1, 64, 224, 224], kernel: (3, 3), stride: (1, 1), padding: (1, 1)) {
            report("avg_pool2d 3x3 s1 p1 (1,64,224,224)", { avgPool2dForward(g, input: x, output: &y) },
                   { avgPool2dBackward(g, gradOutput: y, gradInput: &gx) })
        }
        if let g = try? AdaptivePool2dGeometry(input: [1, 64, 224, 224], outputSize: (7, 7)) {
            report("adaptive_avg_pool2d 7x7 (1,64,224,224)", { adaptiveAvgPool2dForward(g, input: x, output: &y) },
                   { adaptiveAvgPool2dBackward(g, gradOutput: y, gradInput: &gx) })
        }
        for mode in ResizeMode.allCases {
            if let g = try? Resize2dGeometry(input: [1, 64, 224, 224], size: (448, 448), mode: mode) {
                report("interpolate \(mode) x2 (1,64,224,224)", { resize2dForward(g, input: x, output: &y) },
                       { resize2dBackward(g, gradOutput: y, gradInput: &gx) })
            }
        }
    }

    static func run() {
        if let t = ProcessInfo.processInfo.environment["LOSSBENCH_THREADS"], let n = Int(t), n > 0 {
            LossKitRuntime.threads = n
        }
        let only = ProcessInfo.processInfo.environment["LOSSBENCH_ONLY"] ?? ""
        print("kernels: threads=\(LossKitRuntime.threads) clock=\(threadClock ? "thread CPU" : "wall")  (GFLOP/s, best of 5-9 runs; peer: bench/peer_kernels.py)")
        if only.isEmpty || only == "matmul" {
            for size in [256, 512, 1024] {
                print(String(format: "matmul f32 %4d^3            %7.1f", size, matmul(size, Float.self)))
            }
            print(String(format: "matmul f64  512^3            %7.1f", matmul(512, Double.self)))
        }
        if only.isEmpty || only == "small" {
            smallGroups("depthwise 3x3 (1,64,112,112)", input: [1, 64, 112, 112], weight: [64, 1, 3, 3], padding: 1, groups: 64)
            smallGroups("sobel 1->1 3x3 (4,1,256,256)", input: [4, 1, 256, 256], weight: [1, 1, 3, 3], padding: 1, groups: 1)
            smallGroups("blur 71x71 groups=1 (1,1,128,128)", input: [1, 1, 128, 128], weight: [1, 1, 71, 71], padding: 35, groups: 1)
            smallGroups("vgg conv1 3->64 (1,3,224,224)", input: [1, 3, 224, 224], weight: [64, 3, 3, 3], padding: 1, groups: 1)
            smallGroups("1->16 3x3 (1,1,128,128)", input: [1, 1, 128, 128], weight: [16, 1, 3, 3], padding: 1, groups: 1)
            for og in [2, 3, 4, 6] {
                smallGroups("groups=16, \(og) out/group (1,32,96,96)", input: [1, 32, 96, 96], weight: [16 * og, 2, 3, 3], padding: 1, groups: 16)
            }
        }
        if only.isEmpty || only == "image" { imageOps() }
        if only.isEmpty || only == "vgg" { vggLayers() }
        if only == "pair" { pairLayers() }
        if !(only.isEmpty || only == "conv") { return }
        let c = conv3x3(batch: 1, channels: 64, size: 112, Float.self)
        print(String(format: "conv3x3 f32 64->64 112x112  fwd %7.1f  dx %7.1f  dw %7.1f  fwd+dx %7.1f",
                     c.fwd, c.dx, c.dw, 2 / (1 / c.fwd + 1 / c.dx)))
        let d = conv3x3(batch: 1, channels: 64, size: 56, Double.self)
        print(String(format: "conv3x3 f64 64->64 56x56    fwd %7.1f  dx %7.1f  dw %7.1f  fwd+dx %7.1f",
                     d.fwd, d.dx, d.dw, 2 / (1 / d.fwd + 1 / d.dx)))
    }
}
