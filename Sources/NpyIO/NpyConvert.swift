/// Float types NpyIO converts to; the conversions below are specialised for each.
protocol NpyFloat: BinaryFloatingPoint, SIMDScalar, Codable {
    init(_ v: Float16)
    init(_ v: Float)
    init(_ v: Double)
}
extension Float: NpyFloat {}
extension Double: NpyFloat {}

/// Element decoding: raw file bytes of any supported dtype and byte order → native floats.
///
/// Loads are unaligned (a `.npz` member or a hand-written file need not align its data).
/// The common cases (float32/float64 in native order) are explicit SIMD loops; the rest are
/// simple per-element loops the optimiser vectorises.
enum NpyConvert {
    /// Decodes elements `start..<start+count` (in file order) into `dst`.
    static func decode<T: NpyFloat>(_ src: UnsafeRawPointer, dtype: NpyDType, start: Int, count: Int, into dst: UnsafeMutablePointer<T>) {
        let swap = !dtype.isNativeOrder
        let p = src + start * dtype.itemSize
        switch (dtype.kind, dtype.itemSize) {
        case (.float, 4):
            if swap { loop(p, count, dst, UInt32.self, swap: true) { T(Float(bitPattern: $0)) } }
            else { floatsToFloats(p, count, dst, Float.self) }
        case (.float, 8):
            if swap { loop(p, count, dst, UInt64.self, swap: true) { T(Double(bitPattern: $0)) } }
            else { floatsToFloats(p, count, dst, Double.self) }
        case (.float, 2):
            float16Table.withUnsafeBufferPointer { table in
                let t = table.baseAddress!
                loop(p, count, dst, UInt16.self, swap: swap) { T(t[Int($0)]) }
            }
        case (.bfloat16, 2):
            // A bfloat16 is the upper half of a float32: exact, NaN payloads and all.
            loop(p, count, dst, UInt16.self, swap: swap) { T(Float(bitPattern: UInt32($0) << 16)) }
        case (.bool, _):
            loop(p, count, dst, UInt8.self, swap: false) { $0 != 0 ? 1 : 0 }
        case (.int, 1): loop(p, count, dst, Int8.self, swap: false) { T($0) }
        case (.int, 2): loop(p, count, dst, Int16.self, swap: swap) { T($0) }
        case (.int, 4): loop(p, count, dst, Int32.self, swap: swap) { T($0) }
        case (.int, 8): loop(p, count, dst, Int64.self, swap: swap) { T($0) }
        case (.uint, 1): loop(p, count, dst, UInt8.self, swap: false) { T($0) }
        case (.uint, 2): loop(p, count, dst, UInt16.self, swap: swap) { T($0) }
        case (.uint, 4): loop(p, count, dst, UInt32.self, swap: swap) { T($0) }
        case (.uint, 8): loop(p, count, dst, UInt64.self, swap: swap) { T($0) }
        default:
            // NpyDType.parse admits no other combination.
            preconditionFailure("NpyConvert: unexpected dtype \(dtype.descr)")
        }
    }

    /// Every float16 bit pattern's value as a Float (256 KiB, built on first use).
    /// Why a table: the baseline x86-64 target has no F16C instructions, so
    /// `Float(Float16)` is a library call (measured 15 ns/element); the lookup is about
    /// 4x faster, and a SIMD bit-manipulation version was slower than either with this
    /// compiler (51 ns). Tested against `Float(Float16)` for all 65,536 patterns.
    static let float16Table: [Float] = (0...0xFFFF).map { Float(Float16(bitPattern: UInt16($0))) }

    @inline(__always)
    private static func loop<I: FixedWidthInteger, T>(_ p: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<T>, _: I.Type,
                                                      swap: Bool, _ f: (I) -> T) {
        let size = MemoryLayout<I>.size
        if swap {
            for i in 0..<n { dst[i] = f(p.loadUnaligned(fromByteOffset: i * size, as: I.self).byteSwapped) }
        } else {
            for i in 0..<n { dst[i] = f(p.loadUnaligned(fromByteOffset: i * size, as: I.self)) }
        }
    }

    /// Native float32/float64 → T, 8 lanes at a time.
    @inline(__always)
    private static func floatsToFloats<S: NpyFloat, T: NpyFloat>(_ p: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<T>, _: S.Type) {
        if S.self == T.self {
            UnsafeMutableRawPointer(dst).copyMemory(from: p, byteCount: n * MemoryLayout<T>.size)
            return
        }
        let size = MemoryLayout<S>.size
        var i = 0
        let out = UnsafeMutableRawPointer(dst)
        while i + 8 <= n {
            let v = p.loadUnaligned(fromByteOffset: i * size, as: SIMD8<S>.self)
            out.storeBytes(of: SIMD8<T>(v), toByteOffset: i * MemoryLayout<T>.size, as: SIMD8<T>.self)
            i += 8
        }
        while i < n {
            dst[i] = T(p.loadUnaligned(fromByteOffset: i * size, as: S.self))
            i += 1
        }
    }

    /// Copies a column-major array into row-major order.
    static func fortranToC<T>(_ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>, shape: [Int]) {
        var fStride = [Int](repeating: 1, count: shape.count)
        for k in 1..<max(shape.count, 1) { fStride[k] = fStride[k - 1] * shape[k - 1] }
        stridedToC(src, dst, shape: shape, strides: fStride)
    }

    /// Copies the view of `src` with `strides` (in elements, all ≥ 0) into row-major order:
    /// an odometer over the leading axes, a strided run along the last. Fortran-order arrays
    /// and PyTorch's non-contiguous tensor views both go through it.
    static func stridedToC<T>(_ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>, shape: [Int], strides: [Int]) {
        let nd = shape.count
        guard nd > 0 else { dst[0] = src[0]; return }
        guard shape.allSatisfy({ $0 > 0 }) else { return }
        let inner = shape[nd - 1], innerStride = strides[nd - 1]
        var index = [Int](repeating: 0, count: nd - 1)     // odometer over the leading axes
        var srcBase = 0
        var o = 0
        let outer = shape[0..<(nd - 1)].reduce(1, *)
        for _ in 0..<outer {
            var s = srcBase
            for _ in 0..<inner { dst[o] = src[s]; o += 1; s += innerStride }
            var k = nd - 2
            while k >= 0 {
                index[k] += 1
                srcBase += strides[k]
                if index[k] < shape[k] { break }
                srcBase -= strides[k] * shape[k]
                index[k] = 0
                k -= 1
            }
        }
    }

    /// `stridedToC` for elements of `itemSize` bytes (1, 2, 4 or 8), whatever their type.
    static func stridedToC(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, shape: [Int], strides: [Int], itemSize: Int) {
        func run<T>(_: T.Type) {
            stridedToC(src.assumingMemoryBound(to: T.self), dst.assumingMemoryBound(to: T.self), shape: shape, strides: strides)
        }
        switch itemSize {
        case 1: run(UInt8.self)
        case 2: run(UInt16.self)
        case 4: run(UInt32.self)
        default: run(UInt64.self)
        }
    }
}
