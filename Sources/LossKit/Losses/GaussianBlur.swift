import Foundation

/// MMagic's `GaussianBlur` (kernel 71×71, sigma 10, zero padding 35, one kernel per channel),
/// used by GANLoss `smgan` on the mask; MMagic detaches its output, so this is a constant
/// (no gradient): a grouped `conv2d`.
///
/// The kernel is built the way MMagic builds it, in float32 whatever the data's dtype:
/// `g[x] = expf(float32(−(x − 35)² / 200))` (a Python float made a float32 tensor), the 1-D
/// kernel `g / sum(g)` and the 2-D kernel the float32 outer product. The float32 rounding of
/// each 2-D entry is kept (a float64 blur then matches MMagic to 1e-16, which a separable blur
/// with unrounded products would not). The kernel is then cast to the data's dtype, as MMagic's
/// `self.kernel.to(x.dtype)`.
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

    /// Blurs a 4-D tensor per channel: `conv2d(x, kernel repeated C times, padding=35,
    /// groups=C)` in `x`'s dtype, as MMagic does. The result does not require a gradient.
    static func blur(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4 else {
            throw LossError.invalidInput(argument: "mask", message: "must be 4-D (N,C,H,W) for the Gaussian blur, found shape \(formatShape(x.shape))")
        }
        guard x.count > 0 else { return x.detach() }
        let c = x.shape[1]
        let taps = kernel2D.map(Double.init)
        let weight = try Tensor(shape: [c, 1, kernelSize, kernelSize],
                                values: Array([[Double]](repeating: taps, count: c).joined()), dtype: x.dtype)
        let half = kernelSize / 2
        return try withNoGrad { try conv2d(x.detach(), weight, padding: (half, half), groups: c) }
    }
}
