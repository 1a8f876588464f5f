import Foundation

/// MMagic's `GaussianBlur` (kernel 71×71, sigma 10, zero padding 35, one kernel per channel),
/// used by GANLoss `smgan` on the mask; MMagic detaches its output, so this is a constant
/// (no gradient) computed directly.
///
/// The kernel is built the way MMagic builds it, in float32 whatever the data's dtype:
/// `g[x] = expf(float32(−(x − 35)² / 200))` (a Python float made a float32 tensor), the 1-D
/// kernel `g / sum(g)` and the 2-D kernel the float32 outer product. The float32 rounding of
/// each 2-D entry is kept (a float64 blur then matches MMagic to 1e-16, which a separable blur
/// with unrounded products would not).
enum GaussianBlur {
    static let kernelSize = 71
    static let sigma = 10.0

    /// The 71 float32 coefficients of the normalised 1-D kernel.
    static let kernel1D: [Float] = {
        let half = kernelSize / 2
        let g: [Float] = (0..<kernelSize).map { x in
            let arg = Float(-Double((x - half) * (x - half)) / (2 * sigma * sigma))
            return Float(Foundation.exp(Double(arg)))   // correctly rounded expf
        }
        let total = torchFloat32Sum(g)
        return g.map { $0 / total }
    }()

    /// `torch.sum` of 71 contiguous float32 values as PyTorch's CPU kernel orders it: four
    /// 16-lane accumulators over the first 64 values, combined lane-wise, lanes summed in order,
    /// then the sum of the 7-value tail added. (Sequential summation differs in the last bit,
    /// which shifts every blurred value by ~1e-7 relative; checked against torch 2.x:
    /// 25.056678771972656.)
    static func torchFloat32Sum(_ v: [Float]) -> Float {
        let lanes = 16, ilp = 4
        let vectorized = v.count / (lanes * ilp) * (lanes * ilp)
        var acc = [[Float]](repeating: [Float](repeating: 0, count: lanes), count: ilp)
        var i = 0
        while i < vectorized {
            for j in 0..<ilp { for l in 0..<lanes { acc[j][l] += v[i + j * lanes + l] } }
            i += lanes * ilp
        }
        var combined = acc[0]
        for j in 1..<ilp { for l in 0..<lanes { combined[l] += acc[j][l] } }
        var s: Float = 0
        for l in 0..<lanes { s += combined[l] }
        var tail: Float = 0
        for k in vectorized..<v.count { tail += v[k] }
        return s + tail
    }

    /// 2-D kernel entries `k[a] * k[b]` rounded to float32, row-major 71×71.
    static let kernel2D: [Float] = kernel1D.flatMap { a in kernel1D.map { b in a * b } }

    /// Blurs a 4-D tensor per channel. The result does not require a gradient.
    static func blur(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4 else {
            throw LossError.invalidInput(argument: "mask", message: "must be 4-D (N,C,H,W) for the Gaussian blur, found shape \(formatShape(x.shape))")
        }
        guard x.count > 0 else { return x.detach() }
        let (h, w) = (x.shape[2], x.shape[3])
        let planes = x.shape[0] * x.shape[1]
        let src = x.toFloat64()
        let k = kernel2D.map(Double.init)
        let half = kernelSize / 2
        var dst = [Double](repeating: 0, count: src.count)
        // One chunk per output row (rows are independent). Each output accumulates its valid
        // taps in a fixed order (kernel row a, then column b); looping over the outputs j
        // innermost keeps that order per output and lets the loop vectorise over j.
        src.withUnsafeBufferPointer { s in
            k.withUnsafeBufferPointer { k in
                dst.withUnsafeMutableBufferPointer { d in
                    let d = d   // the chunks write disjoint rows
                    parallelChunks(planes * h) { row in
                        let base = (row / h) * h * w
                        let i = row % h
                        let out = d.baseAddress! + base + i * w
                        for a in max(0, half - i)..<min(kernelSize, half - i + h) {
                            let srcRow = s.baseAddress! + base + (i + a - half) * w
                            for b in 0..<kernelSize {
                                // Output j reads column j + b − half: valid for j in [half − b, half − b + w).
                                let lo = max(0, half - b), hi = min(w, half - b + w)
                                guard lo < hi else { continue }
                                let kab = k[a * kernelSize + b]
                                let shifted = srcRow + (b - half)
                                for j in lo..<hi { out[j] += kab * shifted[j] }
                            }
                        }
                    }
                }
            }
        }
        return try Tensor(shape: x.shape, values: dst, dtype: x.dtype)
    }
}
