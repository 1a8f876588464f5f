import Dispatch
import Foundation

/// Summary statistics of an array's values taken as float64, in one pass.
///
/// Semantics follow NumPy on `a.astype(np.float64)`:
/// - `min`/`max` are NaN when any element is NaN (`np.min` propagates NaN);
///   infinities take part as ordinary values.
/// - `sum` and `mean` propagate NaN and infinities the IEEE way (inf + -inf is NaN).
/// - An empty array has no `min`, `max` or `mean` (nil: NumPy raises for min/max and
///   warns and returns NaN for mean); its `sum` is 0.
///
/// The sum is accumulated in float64 in fixed chunks combined in order, so the result is
/// the same for any thread count. It can differ from NumPy's pairwise sum in the last
/// bits (both are within a few ulp of the exact sum for data of one sign).
public struct NpyStatistics: Equatable, Sendable {
    public var count: Int
    public var min: Double?
    public var max: Double?
    public var mean: Double?
    public var sum: Double
    /// Elements that are NaN or ±infinity.
    public var nonfinite: Int
    /// Elements that are NaN.
    public var nanCount: Int

    /// Elements per chunk: chunking depends on the size only, never on the thread count.
    static let chunkSize = 1 << 18

    /// Computes the statistics on up to `threads` threads (default: all cores).
    public init(_ array: NpyArray, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        let n = array.count
        let chunks = n == 0 ? 0 : (n + Self.chunkSize - 1) / Self.chunkSize
        var partials = [Partial](repeating: Partial(), count: chunks)
        array.withUnsafeDataBytes { raw in
            guard let base = raw.baseAddress, chunks > 0 else { return }
            partials.withUnsafeMutableBufferPointer { out in
                let slots = out.baseAddress!
                let workers = Swift.max(1, Swift.min(threads, chunks))
                let work = { (worker: Int) in
                    // At most one chunk; no more than the array (inspect meets many tiny tensors).
                    var scratch = [Double](repeating: 0, count: Swift.min(Self.chunkSize, n))
                    let lo = chunks * worker / workers, hi = chunks * (worker + 1) / workers
                    for c in lo..<hi {
                        let start = c * Self.chunkSize
                        let m = Swift.min(Self.chunkSize, n - start)
                        slots[c] = Self.chunk(base, dtype: array.dtype, start: start, count: m, scratch: &scratch)
                    }
                }
                if workers == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: workers, execute: work) }
            }
        }
        var total = Partial()
        for p in partials { total.merge(p) }
        count = n
        sum = total.sum
        nonfinite = total.nonfinite
        nanCount = total.nan
        if n == 0 {
            min = nil; max = nil; mean = nil
        } else if total.nan > 0 {
            min = .nan; max = .nan; mean = total.sum / Double(n)
        } else {
            min = total.min; max = total.max; mean = total.sum / Double(n)
        }
    }

    struct Partial {
        var min = Double.infinity
        var max = -Double.infinity
        var sum = 0.0
        var nonfinite = 0
        var nan = 0
        mutating func merge(_ o: Partial) {
            min = Swift.min(min, o.min)
            max = Swift.max(max, o.max)
            sum += o.sum
            nonfinite += o.nonfinite
            nan += o.nan
        }
    }

    private static func chunk(_ base: UnsafeRawPointer, dtype: NpyDType, start: Int, count: Int, scratch: inout [Double]) -> Partial {
        if dtype.kind == .float, dtype.itemSize == 4, dtype.isNativeOrder {
            return float32Chunk(base + start * 4, count)
        }
        if dtype.kind == .float, dtype.itemSize == 8, dtype.isNativeOrder {
            return float64Chunk(base + start * 8, count)
        }
        return scratch.withUnsafeMutableBufferPointer { s in
            NpyConvert.decode(base, dtype: dtype, start: start, count: count, into: s.baseAddress!)
            return float64Chunk(UnsafeRawPointer(s.baseAddress!), count)
        }
    }

    /// float32 data: min/max compared in float32 (exact), sums widened to float64.
    /// NaN lanes never win a comparison, so min/max stay those of the other values and
    /// the NaN count decides the result.
    private static func float32Chunk(_ p: UnsafeRawPointer, _ n: Int) -> Partial {
        typealias V = SIMD16<Float>
        var vmin = V(repeating: .infinity), vmax = V(repeating: -.infinity)
        var s0 = SIMD8<Double>(), s1 = SIMD8<Double>()
        var bad = SIMD16<UInt32>(), nans = SIMD16<UInt32>()
        var i = 0
        while i + 16 <= n {
            let x = p.loadUnaligned(fromByteOffset: i * 4, as: V.self)
            vmin.replace(with: x, where: x .< vmin)
            vmax.replace(with: x, where: x .> vmax)
            s0 += SIMD8<Double>(x.lowHalf)
            s1 += SIMD8<Double>(x.highHalf)
            // |x| as bits m: m >= the infinity pattern is non-finite, m above it is NaN.
            // Both tests as carries into the top bit (a mask select costs 20x more here).
            let m = unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF
            bad &+= (m &+ 0x0080_0000) &>> 31
            nans &+= (0x7F80_0000 &- m) &>> 31
            i += 16
        }
        var r = Partial()
        r.min = Double(vmin.min())
        r.max = Double(vmax.max())
        r.sum = (s0 + s1).sum()
        r.nonfinite = Int(bad.wrappedSum())
        r.nan = Int(nans.wrappedSum())
        while i < n {
            let x = p.loadUnaligned(fromByteOffset: i * 4, as: Float.self)
            r.add(Double(x))
            i += 1
        }
        return r
    }

    private static func float64Chunk(_ p: UnsafeRawPointer, _ n: Int) -> Partial {
        typealias V = SIMD8<Double>
        var vmin = V(repeating: .infinity), vmax = V(repeating: -.infinity)
        var s0 = V(), s1 = V()
        var bad = SIMD8<UInt64>(), nans = SIMD8<UInt64>()
        var i = 0
        while i + 16 <= n {
            let x = p.loadUnaligned(fromByteOffset: i * 8, as: V.self)
            let y = p.loadUnaligned(fromByteOffset: i * 8 + 64, as: V.self)
            vmin.replace(with: x, where: x .< vmin); vmin.replace(with: y, where: y .< vmin)
            vmax.replace(with: x, where: x .> vmax); vmax.replace(with: y, where: y .> vmax)
            s0 += x
            s1 += y
            let mx = unsafeBitCast(x, to: SIMD8<UInt64>.self) & 0x7FFF_FFFF_FFFF_FFFF
            let my = unsafeBitCast(y, to: SIMD8<UInt64>.self) & 0x7FFF_FFFF_FFFF_FFFF
            bad &+= (mx &+ 0x0010_0000_0000_0000) &>> 63
            bad &+= (my &+ 0x0010_0000_0000_0000) &>> 63
            nans &+= (0x7FF0_0000_0000_0000 &- mx) &>> 63
            nans &+= (0x7FF0_0000_0000_0000 &- my) &>> 63
            i += 16
        }
        var r = Partial()
        r.min = vmin.min()
        r.max = vmax.max()
        r.sum = (s0 + s1).sum()
        r.nonfinite = Int(bad.wrappedSum())
        r.nan = Int(nans.wrappedSum())
        while i < n {
            r.add(p.loadUnaligned(fromByteOffset: i * 8, as: Double.self))
            i += 1
        }
        return r
    }
}

extension NpyStatistics.Partial {
    @inline(__always)
    mutating func add(_ x: Double) {
        if x < min { min = x }
        if x > max { max = x }
        sum += x
        if !x.isFinite { nonfinite += 1 }
        if x.isNaN { nan += 1 }
    }
}
