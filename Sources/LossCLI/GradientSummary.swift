import LossKit

/// Gradient norms as `eval` reports them (the full arrays go to `--grad-out`).
struct GradientSummary {
    /// `"total"` or a term name.
    var owner: String
    var input: String
    var tensor: Tensor
    var shape: [Int] { tensor.shape }
    /// sqrt(sum g²), accumulated in float64.
    var l2: Double
    /// max |g|; NaN when an element is NaN.
    var maxAbs: Double

    init(owner: String, input: String, tensor: Tensor) {
        self.owner = owner
        self.input = input
        self.tensor = tensor
        let stats = tensor.dtype == .float64
            ? (try? tensor.withUnsafeBufferPointer(as: Double.self, GradientSummary.norms))
            : (try? tensor.withUnsafeBufferPointer(as: Float.self, GradientSummary.norms))
        (l2, maxAbs) = stats ?? (.nan, .nan)
    }

    /// sqrt(Σ g²) and max |g| in one pass, accumulated in float64; NaN propagates to both.
    /// Eight independent lanes without branches, so that the compiler vectorises it
    /// (docs/speed.md). A NaN makes its lane's sum NaN (squares are never -inf), so the sum
    /// tells whether one was seen.
    @inline(__always)
    static func norms<T: BinaryFloatingPoint>(_ values: UnsafeBufferPointer<T>) -> (Double, Double) {
        guard let base = values.baseAddress else { return (0, 0) }
        let n = values.count
        var s = SIMD8<Double>(repeating: 0), m = SIMD8<Double>(repeating: 0)
        var i = 0
        while i + 8 <= n {
            var d = SIMD8<Double>()
            for k in 0..<8 { d[k] = Double(base[i + k]) }
            s.addProduct(d, d)
            let a = d.replacing(with: -d, where: d .< 0)
            m.replace(with: a, where: a .> m)
            i += 8
        }
        var sum = s.sum(), maxAbs = m.max()
        while i < n {
            let d = Double(base[i])
            sum += d * d
            if abs(d) > maxAbs { maxAbs = abs(d) }
            i += 1
        }
        return (sum.squareRoot(), sum.isNaN ? .nan : maxAbs)
    }
}
