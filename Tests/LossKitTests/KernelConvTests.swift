import XCTest
@testable import LossKit

/// conv2d forward and adjoints against torch (fixtures/kernels/conv2d.json), against a direct
/// float64 loop on shapes that cross GEMM tile boundaries, and the dot-product identity.
final class KernelConvTests: XCTestCase {
    func geometry(_ c: [String: Any]) throws -> Conv2dGeometry {
        try Conv2dGeometry(
            input: c.ints("input_shape"), weight: c.ints("weight_shape"),
            bias: c["b"] != nil ? [c.ints("weight_shape")[0]] : nil,
            stride: c.pair("stride"), padding: c.pair("padding"), dilation: c.pair("dilation"),
            groups: c.int("groups"))
    }

    func runFixtures<T: KernelFloat>(_: T.Type) throws {
        var worst = 0.0
        for c in try KernelFixtures.cases("conv2d.json") {
            let g = try geometry(c)
            // The longest reduction: the weight gradient sums N·OH·OW products.
            let tol = kernelTolerance(T.self, terms: max(g.groupInChannels * g.kernelH * g.kernelW,
                                                         g.groupOutChannels * g.kernelH * g.kernelW,
                                                         g.batch * g.outHeight * g.outWidth))
            XCTAssertEqual(g.outputShape, c.ints("output_shape"), c.name)
            let x = c.doubles("x").map { T($0) }, w = c.doubles("w").map { T($0) }
            let gy = c.doubles("gy").map { T($0) }
            var y = sized(g.outputShape.reduce(1, *), T.self)
            if c["b"] != nil {
                let b = c.doubles("b").map { T($0) }
                conv2dForward(g, input: x, weight: w, bias: b, output: &y)
                var gb = sized(g.outChannels, T.self)
                conv2dBackwardBias(g, gradOutput: gy, gradBias: &gb)
                worst = max(worst, assertClose(gb, c.doubles("gb"), tol: tol, "\(c.name) gb \(T.self)"))
            } else {
                conv2dForward(g, input: x, weight: w, bias: nil, output: &y)
            }
            worst = max(worst, assertClose(y, c.doubles("y"), tol: tol, "\(c.name) y \(T.self)"))
            for algorithm in [Conv2dAlgorithm.gemm, .direct, .winograd] {
                var ya = sized(y.count, T.self)
                if c["b"] != nil {
                    conv2dForward(g, input: x, weight: w, bias: c.doubles("b").map { T($0) }, output: &ya, algorithm: algorithm)
                } else {
                    conv2dForward(g, input: x, weight: w, bias: nil, output: &ya, algorithm: algorithm)
                }
                worst = max(worst, assertClose(ya, c.doubles("y"), tol: tol, "\(c.name) y \(T.self) \(algorithm)"))
                var gx = sized(x.count, T.self)
                conv2dBackwardInput(g, gradOutput: gy, weight: w, gradInput: &gx, algorithm: algorithm)
                worst = max(worst, assertClose(gx, c.doubles("gx"), tol: tol, "\(c.name) gx \(T.self) \(algorithm)"))
            }
            var gw = [T](repeating: .nan, count: w.count)
            conv2dBackwardWeight(g, gradOutput: gy, input: x, gradWeight: &gw)
            worst = max(worst, assertClose(gw, c.doubles("gw"), tol: tol, "\(c.name) gw \(T.self)"))
        }
        print("conv2d vs torch, \(T.self): worst scaled error \(worst)")
    }

    func testConvMatchesTorchDouble() throws { try runFixtures(Double.self) }
    func testConvMatchesTorchFloat() throws { try runFixtures(Float.self) }

    /// Direct definition of conv2d in float64: y[n,o,i,j] = b[o] + Σ w[o,c,ki,kj]·x[n,g·Cg+c, i·s−p+ki·d, j·s−p+kj·d].
    func directConv(_ g: Conv2dGeometry, _ x: [Double], _ w: [Double], _ b: [Double]?) -> [Double] {
        var y = [Double](repeating: 0, count: g.outputShape.reduce(1, *))
        let cg = g.groupInChannels, og = g.groupOutChannels
        for n in 0..<g.batch {
            for o in 0..<g.outChannels {
                let grp = o / og
                for i in 0..<g.outHeight {
                    for j in 0..<g.outWidth {
                        var s = b?[o] ?? 0
                        for c in 0..<cg {
                            for ki in 0..<g.kernelH {
                                let ih = i * g.strideH - g.padH + ki * g.dilationH
                                if ih < 0 || ih >= g.height { continue }
                                for kj in 0..<g.kernelW {
                                    let iw = j * g.strideW - g.padW + kj * g.dilationW
                                    if iw < 0 || iw >= g.width { continue }
                                    s += w[((o * cg + c) * g.kernelH + ki) * g.kernelW + kj]
                                        * x[((n * g.inChannels + grp * cg + c) * g.height + ih) * g.width + iw]
                                }
                            }
                        }
                        y[((n * g.outChannels + o) * g.outHeight + i) * g.outWidth + j] = s
                    }
                }
            }
        }
        return y
    }

    /// Shapes with K = Cg·KH·KW > 256 (two depth blocks), more than 256 output pixels (two
    /// column tiles), more than 96 output channels (two row tiles) and odd tails.
    let bigCases: [(input: [Int], weight: [Int], stride: (Int, Int), pad: (Int, Int), dil: (Int, Int), groups: Int)] = [
        ([1, 30, 18, 19], [7, 30, 3, 3], (1, 1), (1, 1), (1, 1), 1),
        ([2, 4, 9, 33], [100, 4, 1, 1], (1, 1), (0, 0), (1, 1), 1),
        ([1, 58, 23, 21], [10, 29, 3, 3], (2, 1), (2, 1), (1, 2), 2),
        ([1, 2, 43, 43], [100, 2, 3, 3], (1, 1), (1, 1), (1, 1), 1),  // tiles of 96 + 4 rows
    ]

    func testConvMatchesDirectLoopAcrossTiles() throws {
        for (ci, bc) in bigCases.enumerated() {
            let g = try Conv2dGeometry(input: bc.input, weight: bc.weight, bias: [bc.weight[0]],
                                       stride: bc.stride, padding: bc.pad, dilation: bc.dil, groups: bc.groups)
            let x = kernelRandom(bc.input.reduce(1, *), seed: UInt64(10 + ci))
            let w = kernelRandom(bc.weight.reduce(1, *), seed: UInt64(20 + ci))
            let b = kernelRandom(bc.weight[0], seed: UInt64(30 + ci))
            let want = directConv(g, x, w, b)
            var y = sized(want.count, Double.self)
            conv2dForward(g, input: x, weight: w, bias: b, output: &y)
            let e = assertClose(y, want, tol: 1e-12, "big case \(ci) Double")
            let xf = x.map { Float($0) }, wf = w.map { Float($0) }, bf = b.map { Float($0) }
            var yf = sized(want.count, Float.self)
            conv2dForward(g, input: xf, weight: wf, bias: bf, output: &yf)
            let ef = assertClose(yf, want, tol: kernelTolerance(Float.self, terms: g.groupInChannels * 9), "big case \(ci) Float")
            print("conv2d big case \(ci) vs direct loop: Double \(e), Float \(ef)")
        }
    }

    /// ⟨conv(x, w), gy⟩ = ⟨x, inputGrad(gy, w)⟩ = ⟨w, weightGrad(gy, x)⟩ in float64.
    func testConvAdjointDotProducts() throws {
        var cases = bigCases
        cases.append(([2, 6, 11, 17], [6, 2, 3, 3], (3, 2), (2, 1), (2, 2), 3))
        cases.append(([1, 5, 8, 8], [5, 1, 3, 3], (1, 1), (1, 1), (1, 1), 5))
        for (ci, bc) in cases.enumerated() {
            let g = try Conv2dGeometry(input: bc.input, weight: bc.weight,
                                       stride: bc.stride, padding: bc.pad, dilation: bc.dil, groups: bc.groups)
            let x = kernelRandom(bc.input.reduce(1, *), seed: UInt64(40 + ci))
            let w = kernelRandom(bc.weight.reduce(1, *), seed: UInt64(50 + ci))
            let gy = kernelRandom(g.outputShape.reduce(1, *), seed: UInt64(60 + ci))
            var y = sized(gy.count, Double.self), gx = sized(x.count, Double.self), gw = sized(w.count, Double.self)
            conv2dForward(g, input: x, weight: w, bias: nil, output: &y)
            conv2dBackwardInput(g, gradOutput: gy, weight: w, gradInput: &gx)
            conv2dBackwardWeight(g, gradOutput: gy, input: x, gradWeight: &gw)
            let lhs = dot(y, gy), viaInput = dot(x, gx), viaWeight = dot(w, gw)
            let scale = max(1, abs(lhs))
            XCTAssertEqual(lhs, viaInput, accuracy: 1e-12 * scale * Double(x.count), "case \(ci) input adjoint")
            XCTAssertEqual(lhs, viaWeight, accuracy: 1e-12 * scale * Double(x.count), "case \(ci) weight adjoint")
            print("conv2d adjoint case \(ci): <Ax,y>=\(lhs) diffs \(abs(lhs - viaInput)) \(abs(lhs - viaWeight))")
        }
    }

    /// The direct row loops take the GEMM's taps in the GEMM's order, so up to a depth of
    /// 256 (one GEMM block) both algorithms give the same bits.
    func testDirectAndGemmAlgorithmsAgreeBitwise() throws {
        let cases: [(input: [Int], weight: [Int], stride: (Int, Int), pad: (Int, Int), dil: (Int, Int), groups: Int)] = [
            ([2, 3, 19, 37], [3, 1, 3, 3], (1, 1), (1, 1), (1, 1), 3),
            ([1, 4, 23, 18], [8, 2, 5, 3], (2, 3), (2, 1), (1, 2), 2),
            ([1, 1, 40, 33], [1, 1, 3, 3], (1, 1), (1, 1), (1, 1), 1),
            ([1, 2, 30, 30], [2, 1, 11, 11], (1, 1), (5, 5), (1, 1), 2),
            ([2, 6, 9, 21], [12, 3, 2, 4], (3, 2), (1, 2), (3, 1), 2),
        ]
        for (ci, bc) in cases.enumerated() {
            let g = try Conv2dGeometry(input: bc.input, weight: bc.weight, bias: [bc.weight[0]], stride: bc.stride,
                                       padding: bc.pad, dilation: bc.dil, groups: bc.groups)
            let x = kernelRandom(bc.input.reduce(1, *), seed: UInt64(500 + ci)).map { Float($0) }
            let w = kernelRandom(bc.weight.reduce(1, *), seed: UInt64(600 + ci)).map { Float($0) }
            let b = kernelRandom(bc.weight[0], seed: UInt64(700 + ci)).map { Float($0) }
            let gy = kernelRandom(g.outputShape.reduce(1, *), seed: UInt64(800 + ci)).map { Float($0) }
            var y1 = sized(gy.count, Float.self), y2 = y1, gx1 = sized(x.count, Float.self), gx2 = gx1
            conv2dForward(g, input: x, weight: w, bias: b, output: &y1, algorithm: .gemm)
            conv2dForward(g, input: x, weight: w, bias: b, output: &y2, algorithm: .direct)
            conv2dBackwardInput(g, gradOutput: gy, weight: w, gradInput: &gx1, algorithm: .gemm)
            conv2dBackwardInput(g, gradOutput: gy, weight: w, gradInput: &gx2, algorithm: .direct)
            XCTAssertEqual(y1.map(\.bitPattern), y2.map(\.bitPattern), "case \(ci) forward")
            XCTAssertEqual(gx1.map(\.bitPattern), gx2.map(\.bitPattern), "case \(ci) input gradient")
        }
    }

    /// Winograd F(2×2, 3×3) against the float64 definition: forward and input gradient, in
    /// float64 and float32, with tails (sizes not multiples of 4), batches whose tiles share a
    /// SIMD strip, padding 0/1/2, more than 256 input channels (two GEMM depth blocks), more
    /// than 96 output channels (two row blocks), and tiles in several chunks (`chunkBytes`).
    /// The float32 error is reported beside the implicit-im2col GEMM's on the same data.
    func testWinogradMatchesDirect() throws {
        let cases: [(input: [Int], weight: [Int], pad: Int, chunkBytes: Int)] = [
            ([1, 16, 13, 17], [16, 16, 3, 3], 1, 16 << 20),
            ([2, 20, 9, 8], [24, 20, 3, 3], 0, 16 << 20),
            ([1, 300, 7, 10], [17, 300, 3, 3], 2, 16 << 20),
            ([3, 16, 23, 6], [100, 16, 3, 3], 1, 16 << 20),
            ([2, 18, 21, 19], [20, 18, 3, 3], 1, 36 * 20 * 4 * 32),  // 32 tiles per chunk
        ]
        var worstF = 0.0, worstGemmF = 0.0
        for (ci, bc) in cases.enumerated() {
            let g = try Conv2dGeometry(input: bc.input, weight: bc.weight, bias: [bc.weight[0]], padding: (bc.pad, bc.pad))
            XCTAssertTrue(Winograd23.applies(g))
            let x = kernelRandom(bc.input.reduce(1, *), seed: UInt64(900 + ci))
            let w = kernelRandom(bc.weight.reduce(1, *), seed: UInt64(910 + ci))
            let b = kernelRandom(bc.weight[0], seed: UInt64(920 + ci))
            let gy = kernelRandom(g.outputShape.reduce(1, *), seed: UInt64(930 + ci))
            let want = directConv(g, x, w, b)
            var wantGx = sized(x.count, Double.self)
            conv2dBackwardInput(g, gradOutput: gy, weight: w, gradInput: &wantGx, algorithm: .gemm)
            guard let gd = Winograd23.inputGradientGeometry(g) else { return XCTFail("case \(ci): no input-gradient geometry") }
            XCTAssertEqual(gd.outputShape, g.inputShape)

            var y = sized(want.count, Double.self), gx = sized(x.count, Double.self)
            conv2dWinograd(g, input: x, weight: w, flipped: false, bias: b, output: &y, chunkBytes: bc.chunkBytes)
            conv2dWinograd(gd, input: gy, weight: w, flipped: true, bias: nil, output: &gx, chunkBytes: bc.chunkBytes)
            assertClose(y, want, tol: 1e-12, "case \(ci) forward Double")
            assertClose(gx, wantGx, tol: 1e-12, "case \(ci) input gradient Double")

            let xf = x.map { Float($0) }, wf = w.map { Float($0) }, bf = b.map { Float($0) }, gyf = gy.map { Float($0) }
            var yf = sized(want.count, Float.self), gxf = sized(x.count, Float.self)
            conv2dForward(g, input: xf, weight: wf, bias: bf, output: &yf, algorithm: .winograd)
            conv2dBackwardInput(g, gradOutput: gyf, weight: wf, gradInput: &gxf, algorithm: .winograd)
            // Float inputs are the rounded doubles: the reference is the float64 conv of those.
            let wantF = directConv(g, xf.map(Double.init), wf.map(Double.init), bf.map(Double.init))
            var wantGxF = sized(x.count, Double.self)
            conv2dBackwardInput(g, gradOutput: gyf.map(Double.init), weight: wf.map(Double.init), gradInput: &wantGxF, algorithm: .gemm)
            let tol = kernelTolerance(Float.self, terms: 4 * max(bc.input[1], bc.weight[0]) * 9)
            worstF = max(worstF, assertClose(yf, wantF, tol: tol, "case \(ci) forward Float"))
            worstF = max(worstF, assertClose(gxf, wantGxF, tol: tol, "case \(ci) input gradient Float"))
            var yg = sized(want.count, Float.self), gxg = sized(x.count, Float.self)
            conv2dForward(g, input: xf, weight: wf, bias: bf, output: &yg, algorithm: .gemm)
            conv2dBackwardInput(g, gradOutput: gyf, weight: wf, gradInput: &gxg, algorithm: .gemm)
            worstGemmF = max(worstGemmF, assertClose(yg, wantF, tol: tol, "case \(ci) forward Float gemm"),
                             assertClose(gxg, wantGxF, tol: tol, "case \(ci) input gradient Float gemm"))
        }
        print("conv2d Winograd F(2x2,3x3) vs float64: worst scaled error, float32: winograd \(worstF), gemm \(worstGemmF)")
    }

    /// Each worker carries its own run of tiles through the three steps: any thread count, any
    /// chunk size gives the same bits (float32 and float64, forward and input gradient, with
    /// tails and uneven splits: 3 threads over an odd number of strips).
    func testWinogradGivesTheSameBitsForAnyThreadCountAndChunk() throws {
        let saved = LossKitRuntime.threads
        defer { LossKitRuntime.threads = saved }
        let g = try Conv2dGeometry(input: [2, 18, 21, 19], weight: [20, 18, 3, 3], bias: [20], padding: (1, 1))
        guard let gd = Winograd23.inputGradientGeometry(g) else { return XCTFail("no input-gradient geometry") }
        let x = kernelRandom(g.inputShape.reduce(1, *), seed: 990), w = kernelRandom(g.weightShape.reduce(1, *), seed: 991)
        let b = kernelRandom(20, seed: 992), gy = kernelRandom(g.outputShape.reduce(1, *), seed: 993)
        func run<T: KernelFloat>(_: T.Type, threads: Int, chunkBytes: Int) -> [UInt64] {
            LossKitRuntime.threads = threads
            let xt = x.map { T(Double($0)) }, wt = w.map { T(Double($0)) }, bt = b.map { T(Double($0)) }, gyt = gy.map { T(Double($0)) }
            var y = sized(g.outputShape.reduce(1, *), T.self), gx = sized(xt.count, T.self)
            conv2dWinograd(g, input: xt, weight: wt, flipped: false, bias: bt, output: &y, chunkBytes: chunkBytes)
            conv2dWinograd(gd, input: gyt, weight: wt, flipped: true, bias: nil, output: &gx, chunkBytes: chunkBytes)
            return (y + gx).map { UInt64(Double($0).bitPattern) }
        }
        for (name, one, others) in [
            ("Float", run(Float.self, threads: 1, chunkBytes: 1 << 20),
             [(2, 1 << 20), (3, 1 << 20), (1, 16 * 20 * 4 * 16), (2, 16 * 20 * 4 * 16), (3, 1)].map { run(Float.self, threads: $0.0, chunkBytes: $0.1) }),
            ("Double", run(Double.self, threads: 1, chunkBytes: 1 << 20),
             [(2, 1 << 20), (3, 16 * 20 * 8 * 8), (2, 1)].map { run(Double.self, threads: $0.0, chunkBytes: $0.1) }),
        ] {
            for (i, bits) in others.enumerated() {
                XCTAssertTrue(bits == one, "\(name) variant \(i): \(zip(bits, one).filter { $0 != $1 }.count) of \(one.count) values differ")
            }
        }
    }

    /// Several inputs in one Winograd pass: each output has the bits of a call of its own with
    /// strips of tiles that span images and inputs, for any thread count and chunk size, float32
    /// and float64 (`testConvOfSeveralInputsGivesEachInputsBits` covers `conv2dForward(inputs:)`).
    func testWinogradOfSeveralInputsGivesEachInputsOwnBits() throws {
        let saved = LossKitRuntime.threads
        defer { LossKitRuntime.threads = saved }
        func check<T: KernelFloat>(_: T.Type, input: [Int], outChannels: Int, inputs count: Int, seed: UInt64) throws {
            let g = try Conv2dGeometry(input: input, weight: [outChannels, input[1], 3, 3], bias: [outChannels], padding: (1, 1))
            let w = kernelRandom(g.weightShape.reduce(1, *), seed: seed).map { T(Double($0)) }
            let b = kernelRandom(outChannels, seed: seed + 1).map { T(Double($0)) }
            let xs = (0..<count).map { i in kernelRandom(g.inputShape.reduce(1, *), seed: seed + 2 + UInt64(i)).map { T(Double($0)) } }
            let n = g.outputShape.reduce(1, *)
            LossKitRuntime.threads = 1
            let want: [[UInt64]] = xs.map { x in
                var y = sized(n, T.self)
                conv2dWinograd(g, input: x, weight: w, flipped: false, bias: b, output: &y)
                return y.map { Double($0).bitPattern }
            }
            let inputs = xs.map { x in UnsafeMutablePointer<T>.allocate(capacity: x.count) }
            let ys = (0..<count).map { _ in UnsafeMutablePointer<T>.allocate(capacity: n) }
            defer { (inputs + ys).forEach { $0.deallocate() } }
            for (p, x) in zip(inputs, xs) { p.initialize(from: x, count: x.count) }
            for (threads, chunkBytes) in [(1, 1 << 20), (2, 1 << 20), (3, 1), (2, 16 * input[1] * 16 * MemoryLayout<T>.size)] {
                LossKitRuntime.threads = threads
                ys.forEach { $0.initialize(repeating: .nan, count: n) }
                conv2dWinograd(g, inputs: inputs.map { UnsafePointer($0) }, weight: w, flipped: false, bias: b, outputs: ys,
                               chunkBytes: chunkBytes)
                for i in 0..<count {
                    XCTAssertTrue(UnsafeBufferPointer(start: ys[i], count: n).map { Double($0).bitPattern } == want[i],
                                  "\(T.self) \(input) input \(i) of \(count), \(threads) threads, chunk \(chunkBytes)")
                }
            }
        }
        // 42 tiles per image, 84 per input: strips of 16 (float32) or 8 (float64) end inside images and inputs.
        try check(Float.self, input: [2, 18, 13, 11], outChannels: 20, inputs: 3, seed: 1000)
        try check(Double.self, input: [2, 18, 13, 11], outChannels: 20, inputs: 3, seed: 1010)
        // Rows of 9 tiles, 18 columns wide: side-by-side groups of 4 next to image boundaries.
        try check(Float.self, input: [1, 16, 10, 18], outChannels: 16, inputs: 2, seed: 1020)
    }

    /// A layer's WinogradFilterCache: the same bits as transforming on every call, for the
    /// forward and the input gradient, on first and later calls; a weight of another shape
    /// handed to the same cache is transformed anew, not read from the old entry. Each
    /// orientation is kept from the use `LossKitRuntime.filterCacheKeepsFromUse` says: the first
    /// or the second.
    func testWinogradFilterCacheGivesTheSameBits() throws {
        let saved = LossKitRuntime.filterCacheKeepsFromUse
        defer { LossKitRuntime.filterCacheKeepsFromUse = saved }
        for keepFrom in [1, 2] {
            LossKitRuntime.filterCacheKeepsFromUse = keepFrom
            let cache = WinogradFilterCache()
            for (ci, shape) in [([1, 20, 11, 9], [24, 20]), ([2, 16, 7, 8], [16, 16]), ([1, 20, 11, 9], [24, 20])].enumerated() {
                let g = try Conv2dGeometry(input: shape.0, weight: shape.1 + [3, 3], padding: (1, 1))
                let x = kernelRandom(g.inputShape.reduce(1, *), seed: UInt64(950 + ci)).map { Float($0) }
                let w = kernelRandom(g.weightShape.reduce(1, *), seed: UInt64(960 + ci)).map { Float($0) }
                let gy = kernelRandom(g.outputShape.reduce(1, *), seed: UInt64(970 + ci)).map { Float($0) }
                var y0 = sized(gy.count, Float.self), gx0 = sized(x.count, Float.self)
                conv2dForward(g, input: x, weight: w, bias: nil, output: &y0, algorithm: .winograd)
                conv2dBackwardInput(g, gradOutput: gy, weight: w, gradInput: &gx0, algorithm: .winograd)
                for call in 0..<3 {
                    var y = sized(gy.count, Float.self), gx = sized(x.count, Float.self)
                    conv2dForward(g, input: x, weight: w, bias: nil, output: &y, algorithm: .winograd, winogradCache: cache)
                    conv2dBackwardInput(g, gradOutput: gy, weight: w, gradInput: &gx, algorithm: .winograd, winogradCache: cache)
                    XCTAssertEqual(y.map(\.bitPattern), y0.map(\.bitPattern), "case \(ci) call \(call) forward")
                    XCTAssertEqual(gx.map(\.bitPattern), gx0.map(\.bitPattern), "case \(ci) call \(call) input gradient")
                    // Case 2 repeats case 0's shape, whose filters were made once already.
                    let kept = keepFrom == 1 || call > 0 || ci == 2
                    XCTAssertEqual(cache.holds(g, flipped: false, Float.self), kept, "keep from \(keepFrom): case \(ci) call \(call) forward kept")
                    XCTAssertEqual(cache.holds(g, flipped: true, Float.self), kept, "keep from \(keepFrom): case \(ci) call \(call) input gradient kept")
                }
            }
        }
    }

    /// Several inputs in one call (a network layer's prediction and target): each output has
    /// the bits of its own one-input call, on the Winograd, GEMM and direct paths, and the call
    /// is one use of the filter cache (kept from the second, when so set).
    func testConvOfSeveralInputsGivesEachInputsBits() throws {
        let saved = LossKitRuntime.filterCacheKeepsFromUse
        defer { LossKitRuntime.filterCacheKeepsFromUse = saved }
        LossKitRuntime.filterCacheKeepsFromUse = 2
        for (ci, shapes) in [([2, 20, 9, 13], [24, 20]), ([1, 2, 9, 13], [24, 2]), ([1, 16, 6, 5], [2, 16])].enumerated() {
            let g = try Conv2dGeometry(input: shapes.0, weight: shapes.1 + [3, 3], padding: (1, 1))
            let xs = (0..<3).map { kernelRandom(g.inputShape.reduce(1, *), seed: UInt64(990 + 10 * ci + $0)).map { Float($0) } }
            let w = kernelRandom(g.weightShape.reduce(1, *), seed: UInt64(980 + ci)).map { Float($0) }
            let b = kernelRandom(g.outChannels, seed: UInt64(985 + ci)).map { Float($0) }
            for algorithm in [Conv2dAlgorithm.automatic, .winograd, .gemm, .direct] {
                let cache = WinogradFilterCache()
                let one = xs.map { x -> [Float] in
                    var y = sized(g.outputShape.reduce(1, *), Float.self)
                    conv2dForward(g, input: x, weight: w, bias: b, output: &y, algorithm: algorithm)
                    return y
                }
                let ys = (0..<3).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: g.outputShape.reduce(1, *)) }
                defer { ys.forEach { $0.deallocate() } }
                let inputs = xs.map { x in UnsafeMutablePointer<Float>.allocate(capacity: x.count) }
                defer { inputs.forEach { $0.deallocate() } }
                for (p, x) in zip(inputs, xs) { p.initialize(from: x, count: x.count) }
                conv2dForward(g, inputs: inputs.map { UnsafePointer($0) }, weight: w, bias: b, outputs: ys,
                              algorithm: algorithm, winogradCache: cache)
                for i in 0..<3 {
                    let y = Array(UnsafeBufferPointer(start: ys[i], count: g.outputShape.reduce(1, *)))
                    XCTAssertEqual(y.map(\.bitPattern), one[i].map(\.bitPattern), "case \(ci) \(algorithm) input \(i)")
                }
                XCTAssertFalse(cache.holds(g, flipped: false, Float.self), "case \(ci) \(algorithm): one call is one use")
            }
        }
    }

    /// Tiles never depend on the thread count: 1 and 2 threads give the same bits.
    func testConvIsBitIdenticalAcrossThreadCounts() throws {
        let g = try Conv2dGeometry(input: [2, 8, 23, 37], weight: [12, 8, 3, 3], padding: (1, 1))
        let x = kernelRandom(g.inputShape.reduce(1, *), seed: 7).map { Float($0) }
        let w = kernelRandom(g.weightShape.reduce(1, *), seed: 8).map { Float($0) }
        let gy = kernelRandom(g.outputShape.reduce(1, *), seed: 9).map { Float($0) }
        let saved = LossKitRuntime.threads
        defer { LossKitRuntime.threads = saved }
        var results: [[[Float]]] = []
        for threads in [1, 2, 3] {
            LossKitRuntime.threads = threads
            var y = sized(gy.count, Float.self), gx = sized(x.count, Float.self), gw = sized(w.count, Float.self)
            conv2dForward(g, input: x, weight: w, bias: nil, output: &y)
            conv2dBackwardInput(g, gradOutput: gy, weight: w, gradInput: &gx)
            conv2dBackwardWeight(g, gradOutput: gy, input: x, gradWeight: &gw)
            var yd = sized(gy.count, Float.self), gxd = sized(x.count, Float.self)
            conv2dForward(g, input: x, weight: w, bias: nil, output: &yd, algorithm: .direct)
            conv2dBackwardInput(g, gradOutput: gy, weight: w, gradInput: &gxd, algorithm: .direct)
            var yw = sized(gy.count, Float.self), gxw = sized(x.count, Float.self)
            conv2dForward(g, input: x, weight: w, bias: nil, output: &yw, algorithm: .winograd)
            conv2dBackwardInput(g, gradOutput: gy, weight: w, gradInput: &gxw, algorithm: .winograd)
            results.append([y, gx, gw, yd, gxd, yw, gxw])
        }
        for r in results.dropFirst() {
            for (a, b) in zip(r, results[0]) {
                XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern))
            }
        }
    }

    func testConvGeometryRejectsBadShapes() {
        func message(_ body: () throws -> Conv2dGeometry) -> String? {
            do { _ = try body(); return nil } catch let e as KernelShapeError { return e.description } catch { return "\(error)" }
        }
        XCTAssertEqual(message { try Conv2dGeometry(input: [1, 3, 8], weight: [4, 3, 3, 3]) },
                       "conv2d: input must be 4-D (N, C, H, W), got (1,3,8)")
        XCTAssertEqual(message { try Conv2dGeometry(input: [1, 4, 8, 8], weight: [4, 3, 3, 3]) },
                       "conv2d: input (1,4,8,8) has 4 channels, weight (4,3,3,3) with groups=1 expects 3")
        XCTAssertEqual(message { try Conv2dGeometry(input: [1, 4, 8, 8], weight: [3, 2, 3, 3], groups: 2) },
                       "conv2d: out channels 3 (weight (3,2,3,3)) not divisible by groups=2")
        XCTAssertEqual(message { try Conv2dGeometry(input: [1, 3, 2, 8], weight: [4, 3, 3, 3]) },
                       "conv2d: padded input size (2, 8) is smaller than the dilated kernel (3, 3); input (1,3,2,8), weight (4,3,3,3)")
        XCTAssertNotNil(message { try Conv2dGeometry(input: [1, 3, 8, 8], weight: [4, 3, 3, 3], stride: (0, 1)) })
        XCTAssertNotNil(message { try Conv2dGeometry(input: [1, 3, 8, 8], weight: [4, 3, 3, 3], padding: (-1, 0)) })
        XCTAssertNotNil(message { try Conv2dGeometry(input: [1, 3, 8, 8], weight: [4, 3, 3, 3], dilation: (1, 0)) })
        XCTAssertNotNil(message { try Conv2dGeometry(input: [1, 3, 8, 8], weight: [4, 3, 3, 3], bias: [3]) })
        XCTAssertNotNil(message { try Conv2dGeometry(input: [1, 3, 8, 8], weight: [4, 3, 3, 3], groups: 0) })
        XCTAssertNil(message { try Conv2dGeometry(input: [1, 3, 2, 8], weight: [4, 3, 3, 3], padding: (1, 0)) })
    }
}

/// Geometry validation never overflows or traps on absurd parameters.
final class KernelGeometryLimitTests: XCTestCase {
    func testHugeParametersAreErrorsNotTraps() {
        XCTAssertThrowsError(try Conv2dGeometry(input: [1, 1, 8, 8], weight: [1, 1, 3, 3], padding: (Int.max / 2, 0)))
        XCTAssertThrowsError(try Conv2dGeometry(input: [1, 1, 8, 8], weight: [1, 1, 3, 3], dilation: (Int.max, 1)))
        XCTAssertThrowsError(try Conv2dGeometry(input: [1 << 30, 1 << 30, 1 << 30, 8], weight: [1, 1 << 30, 1, 1]))
        XCTAssertThrowsError(try Conv2dGeometry(input: [1, 1, 8, 8], weight: [1, 1, 3, 3], padding: (1 << 30, 1 << 30)))
        XCTAssertThrowsError(try Pool2dGeometry(input: [1, 1, 8, 8], kernel: (Int.max, 2)))
        XCTAssertThrowsError(try Pool2dGeometry(input: [1, 1, 8, 8], kernel: (2, 2), stride: (Int.min, 1)))
        XCTAssertThrowsError(try AdaptivePool2dGeometry(input: [1 << 20, 1, 8, 8], outputSize: (1 << 20, 1 << 20)))
        XCTAssertThrowsError(try Resize2dGeometry(input: [1, 1, 8, 8], scaleFactor: (1e300, 1), mode: .nearest))
        XCTAssertThrowsError(try Resize2dGeometry(input: [1 << 20, 1, 8, 8], size: (1 << 20, 1 << 20), mode: .bilinear))
        XCTAssertThrowsError(try GemmGeometry.mm(a: [1 << 40, 4], b: [4, 1 << 40]))
        XCTAssertThrowsError(try GemmGeometry.mm(a: [-1, 4], b: [4, 2]))
    }
}
