import Foundation
import CFault

/// A 64-byte aligned block of memory owned by one or more tensors (reshape and detach share it).
@usableFromInline
final class TensorStorage {
    @usableFromInline let raw: UnsafeMutableRawPointer
    @usableFromInline let byteCount: Int
    /// Set when the memory belongs to someone else (a mapped input file): kept alive, not freed.
    private let owner: AnyObject?

    init(byteCount: Int) {
        self.byteCount = byteCount
        raw = StoragePool.take(byteCount)
        owner = nil
    }

    /// nil when the memory cannot be had (for buffers sized by user data, which must fail
    /// with an error rather than end the process).
    init?(tryByteCount byteCount: Int) {
        guard let p = StoragePool.tryTake(byteCount) else { return nil }
        self.byteCount = byteCount
        raw = p
        owner = nil
    }

    init(borrowing raw: UnsafeMutableRawPointer, byteCount: Int, owner: AnyObject) {
        self.raw = raw
        self.byteCount = byteCount
        self.owner = owner
    }

    deinit { if owner == nil { StoragePool.give(raw, byteCount) } }
}

/// Recycles large buffers by exact size.
///
/// The one piece of process-wide mutable state the engine reads besides the thread count, and
/// deliberately so: it is a cache of free memory (behind a lock), not a setting. What one
/// evaluation leaves in it changes how fast the next one allocates, never a value it computes,
/// and two evaluations side by side share it safely.
///
/// Why: a fresh large allocation is fresh pages from the kernel, and touching them costs a
/// page fault per 4 KiB — for a 100 MB tensor that is more time than the arithmetic (measured
/// by LossBench: a pooled elementwise op runs several times faster). Loss evaluation creates
/// many tensors of the same few shapes, so reuse by exact byte count hits almost always.
enum StoragePool {
    /// Buffers below this size come straight from malloc (cheap, and pooling them would
    /// fragment the cache).
    static let minimumPooledBytes = 1 << 16
    /// Upper bound on memory held idle in the pool.
    static let capacityBytes = 1 << 30
    nonisolated(unsafe) private static var buffers: [Int: [UnsafeMutableRawPointer]] = [:]
    nonisolated(unsafe) private static var cachedBytes = 0
    private static let lock = NSLock()

    /// A buffer for a tensor inside an op. The CLI checks an evaluation's estimated memory
    /// before computing; should an allocation still fail, the process ends with one error
    /// line and exit status 2 (temporary outputs removed) instead of trapping.
    static func take(_ byteCount: Int) -> UnsafeMutableRawPointer {
        if let p = tryTake(byteCount) { return p }
        cfault_fatal("out of memory: cannot allocate \(byteCount) bytes for a tensor", 2)
    }

    static func tryTake(_ byteCount: Int) -> UnsafeMutableRawPointer? {
        if byteCount >= minimumPooledBytes {
            lock.lock()
            let p = buffers[byteCount]?.popLast()
            if p != nil { cachedBytes -= byteCount }
            lock.unlock()
            if let p { return p }
        }
        var p: UnsafeMutableRawPointer?
        guard byteCount >= 0, posix_memalign(&p, 64, max(byteCount, 64)) == 0, let p else {
            // Idle pooled buffers may be what is missing: free them and try once more.
            guard cachedBytes > 0 else { return nil }
            drain()
            var q: UnsafeMutableRawPointer?
            guard posix_memalign(&q, 64, max(byteCount, 64)) == 0, let q else { return nil }
            prefault(q, byteCount)
            return q
        }
        prefault(p, byteCount)
        return p
    }

    /// Fresh buffers of this size and more are populated before use, half on each worker.
    static let prefaultBytes = 1 << 20
    #if os(Linux)
    private static let pageBytes = Int(sysconf(Int32(_SC_PAGESIZE)))
    #endif

    /// Asks the kernel for all of a fresh buffer's pages at once (`MADV_POPULATE_WRITE`, Linux
    /// 5.14 and later; elsewhere, or when refused, pages come at first touch as before), the two
    /// halves on two workers. Why: a cold VGG19 perceptual evaluation touches ~600 MB of fresh
    /// memory, and taking it page by page in the kernels' loops cost a trap per 4 KiB (perf:
    /// ~25 % of the process's CPU time in the kernel). Populating on the allocating thread alone
    /// saved CPU time but no wall time (the workers had been faulting in parallel); on both
    /// workers, a one-shot `losscli eval` of that loss: system time 0.67 → 0.56 s, wall 1.57 →
    /// 1.48 s (median of 8 alternating runs).
    private static func prefault(_ p: UnsafeMutableRawPointer, _ byteCount: Int) {
        #if os(Linux)
        guard byteCount >= prefaultBytes, pageBytes > 0 else { return }
        let page = pageBytes
        let start = (Int(bitPattern: p) + page - 1) / page * page
        let pages = (Int(bitPattern: p) + byteCount - start) / page
        guard pages > 0 else { return }
        let parts = min(LossKitRuntime.threads, 2)
        parallelChunks(parts) { i in
            let lo = start + pages * i / parts * page, hi = start + pages * (i + 1) / parts * page
            if hi > lo, let q = UnsafeMutableRawPointer(bitPattern: lo) { _ = madvise(q, hi - lo, MADV_POPULATE_WRITE) }
        }
        #endif
    }

    static func give(_ p: UnsafeMutableRawPointer, _ byteCount: Int) {
        if byteCount >= minimumPooledBytes {
            lock.lock()
            let keep = cachedBytes + byteCount <= capacityBytes
            if keep { buffers[byteCount, default: []].append(p); cachedBytes += byteCount }
            lock.unlock()
            if keep { return }
        }
        free(p)
    }

    /// Frees every idle buffer.
    static func drain() {
        lock.lock()
        let all = buffers.values.flatMap { $0 }
        buffers = [:]; cachedBytes = 0
        lock.unlock()
        for p in all { free(p) }
    }
}

/// An n-dimensional array of `Float` or `Double` in contiguous row-major order that records
/// the operations applied to it when it (or an input) requires a gradient.
///
/// Tensors are immutable values in practice: ops always return new tensors. Storage may be
/// shared between a tensor and its reshapes or detached copies.
public final class Tensor {
    /// Extent of each dimension; `[]` is a scalar.
    public let shape: [Int]
    public let dtype: DType
    /// Number of elements (product of `shape`, 1 for a scalar).
    public let count: Int
    @usableFromInline let storage: TensorStorage
    /// Whether gradients flow to this tensor (a leaf marked with ``requiringGrad()`` or the
    /// result of an op on such a tensor while gradient recording is on).
    public let requiresGrad: Bool
    /// The op that produced this tensor, present only when `requiresGrad` and not a leaf.
    let gradFn: GradFn?

    init(shape: [Int], dtype: DType, storage: TensorStorage, requiresGrad: Bool = false, gradFn: GradFn? = nil) {
        self.shape = shape
        self.dtype = dtype
        self.count = shape.reduce(1, *)
        self.storage = storage
        self.requiresGrad = requiresGrad
        self.gradFn = gradFn
    }

    /// A tensor with uninitialised storage (kernels fill it).
    init(uninitializedShape shape: [Int], dtype: DType) {
        let n = shape.reduce(1, *)
        self.shape = shape
        self.dtype = dtype
        self.count = n
        self.storage = TensorStorage(byteCount: n * dtype.byteSize)
        self.requiresGrad = false
        self.gradFn = nil
    }

    /// Number of dimensions.
    public var rank: Int { shape.count }

    // MARK: Constructors

    /// A float32 tensor holding `values` in row-major order. Throws when the element count
    /// does not match the shape or a dimension is negative.
    public convenience init(shape: [Int], float32 values: [Float]) throws {
        try Tensor.validate(shape: shape, count: values.count, op: "Tensor(shape:float32:)")
        self.init(uninitializedShape: shape, dtype: .float32)
        values.withUnsafeBytes { storage.raw.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// A float64 tensor holding `values` in row-major order.
    public convenience init(shape: [Int], float64 values: [Double]) throws {
        try Tensor.validate(shape: shape, count: values.count, op: "Tensor(shape:float64:)")
        self.init(uninitializedShape: shape, dtype: .float64)
        values.withUnsafeBytes { storage.raw.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// A tensor of `dtype` whose row-major data are the native-endian `bytes` (copied once, no
    /// alignment needed): lets a reader hand over file data without an intermediate array.
    /// Throws when the byte count does not match the shape.
    public convenience init(shape: [Int], dtype: DType, copyingBytes bytes: UnsafeRawBufferPointer) throws {
        let size = dtype == .float64 ? 8 : 4
        guard bytes.count % size == 0 else {
            throw TensorError.invalidArgument(op: "Tensor(shape:dtype:copyingBytes:)",
                message: "\(bytes.count) bytes are not a whole number of \(dtype) elements")
        }
        try Tensor.validate(shape: shape, count: bytes.count / size, op: "Tensor(shape:dtype:copyingBytes:)")
        self.init(uninitializedShape: shape, dtype: dtype)
        if let base = bytes.baseAddress, bytes.count > 0 { storage.raw.copyMemory(from: base, byteCount: bytes.count) }
    }

    /// A tensor of `dtype` over native-endian row-major `bytes` owned by `owner` (e.g. the
    /// mapping of an input file), without a copy: the bytes must stay valid and unchanged while
    /// `owner` lives, which the tensor keeps alive. Tensors are never written after creation,
    /// so the bytes are only read. Saves the copy into fresh memory and its page faults
    /// (measured in docs/speed.md). Throws when the byte count does not match the shape.
    public convenience init(shape: [Int], dtype: DType, borrowing bytes: UnsafeRawBufferPointer, owner: AnyObject) throws {
        try Tensor.validate(shape: shape, count: bytes.count / dtype.byteSize, op: "Tensor(shape:dtype:borrowing:)")
        guard bytes.count % dtype.byteSize == 0, let base = bytes.baseAddress ?? (bytes.count == 0 ? UnsafeRawPointer(bitPattern: 64) : nil) else {
            throw TensorError.invalidArgument(op: "Tensor(shape:dtype:borrowing:)",
                message: "\(bytes.count) bytes are not a whole number of \(dtype) elements")
        }
        self.init(shape: shape, dtype: dtype,
                  storage: TensorStorage(borrowing: UnsafeMutableRawPointer(mutating: base), byteCount: bytes.count, owner: owner))
    }

    /// A tensor whose `count * byteSize` bytes `fill` initialises (a reader converting file
    /// data straight into the tensor). Throws `TensorError.outOfMemory` when the memory cannot
    /// be had: the size comes from a user's file, so failing must not trap.
    public convenience init(shape: [Int], dtype: DType, filling fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        let n = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        try Tensor.validate(shape: shape, count: n, op: "Tensor(shape:dtype:filling:)")
        let (bytes, overflow) = n.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, let storage = TensorStorage(tryByteCount: bytes) else {
            throw TensorError.outOfMemory(bytes: overflow ? Int.max : bytes)
        }
        try fill(UnsafeMutableRawBufferPointer(start: storage.raw, count: bytes))
        self.init(shape: shape, dtype: dtype, storage: storage)
    }

    /// A tensor of `dtype` holding `values` (converted from Double).
    public convenience init(shape: [Int], values: [Double], dtype: DType) throws {
        switch dtype {
        case .float64: try self.init(shape: shape, float64: values)
        case .float32: try self.init(shape: shape, float32: values.map { Float($0) })
        }
    }

    static func validate(shape: [Int], count: Int, op: String) throws {
        if let d = shape.first(where: { $0 < 0 }) {
            throw TensorError.invalidArgument(op: op, message: "negative dimension \(d) in shape \(formatShape(shape))")
        }
        var n = 1
        for d in shape {
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow { throw TensorError.invalidArgument(op: op, message: "shape \(formatShape(shape)) is too large") }
            n = p
        }
        try checkAllocatable(shape, op: op)
        if n != count {
            throw TensorError.invalidArgument(op: op, message: "\(count) values do not fill shape \(formatShape(shape)) (\(n) elements)")
        }
    }

    /// A tensor of `shape` with every element `value`.
    public static func full(shape: [Int], value: Double, dtype: DType = .float32) throws -> Tensor {
        try validate(shape: shape, count: shape.reduce(1, { $0 &* Swift.max($1, 0) }), op: "Tensor.full")
        return filled(shape, value, dtype)
    }

    public static func zeros(shape: [Int], dtype: DType = .float32) throws -> Tensor {
        try full(shape: shape, value: 0, dtype: dtype)
    }

    public static func ones(shape: [Int], dtype: DType = .float32) throws -> Tensor {
        try full(shape: shape, value: 1, dtype: dtype)
    }

    /// A 0-dimensional tensor.
    public static func scalar(_ value: Double, dtype: DType = .float32) -> Tensor {
        filled([], value, dtype)
    }

    /// Zeros shaped like `self`.
    public func zerosLike() -> Tensor { Tensor.filled(shape, 0, dtype) }
    /// Ones shaped like `self`.
    public func onesLike() -> Tensor { Tensor.filled(shape, 1, dtype) }

    /// Internal: shape already validated.
    static func filled(_ shape: [Int], _ value: Double, _ dtype: DType) -> Tensor {
        let t = Tensor(uninitializedShape: shape, dtype: dtype)
        switch dtype {
        case .float32: fillKernel(t.mutablePointer(Float.self), t.count, Float(value))
        case .float64: fillKernel(t.mutablePointer(Double.self), t.count, value)
        }
        return t
    }

    // MARK: Read back

    /// The elements as `Float` in row-major order (converted when float64).
    public func toFloat32() -> [Float] {
        switch dtype {
        case .float32: return Array(UnsafeBufferPointer(start: pointer(Float.self), count: count))
        case .float64: return UnsafeBufferPointer(start: pointer(Double.self), count: count).map { Float($0) }
        }
    }

    /// The elements as `Double` in row-major order (exact for float32).
    public func toFloat64() -> [Double] {
        switch dtype {
        case .float64: return Array(UnsafeBufferPointer(start: pointer(Double.self), count: count))
        case .float32: return UnsafeBufferPointer(start: pointer(Float.self), count: count).map { Double($0) }
        }
    }

    /// The single element of a one-element tensor. Throws for any other count.
    public func item() throws -> Double {
        guard count == 1 else {
            throw TensorError.invalidArgument(op: "item", message: "tensor of shape \(formatShape(shape)) has \(count) elements, not 1")
        }
        return dtype == .float32 ? Double(pointer(Float.self)[0]) : pointer(Double.self)[0]
    }

    /// Element at flat row-major index `i` (0 ≤ i < count), as Double; nil when out of range.
    public func element(at i: Int) -> Double? {
        guard i >= 0 && i < count else { return nil }
        return dtype == .float32 ? Double(pointer(Float.self)[i]) : pointer(Double.self)[i]
    }

    // MARK: Graph

    /// The same values, cut from the graph (shares storage; never requires grad).
    public func detach() -> Tensor {
        Tensor(shape: shape, dtype: dtype, storage: storage)
    }

    /// A leaf sharing this tensor's storage that requires a gradient: use it as an input of
    /// ops and pass it to ``grad(_:wrt:gradOutput:createGraph:)``.
    public func requiringGrad() -> Tensor {
        Tensor(shape: shape, dtype: dtype, storage: storage, requiresGrad: true)
    }

    // MARK: Raw access (kernels)

    @inlinable func pointer<T>(_: T.Type) -> UnsafePointer<T> {
        UnsafePointer(storage.raw.assumingMemoryBound(to: T.self))
    }

    @inlinable func mutablePointer<T>(_: T.Type) -> UnsafeMutablePointer<T> {
        storage.raw.assumingMemoryBound(to: T.self)
    }

    /// Calls `body` with the elements; `T` must match `dtype`.
    public func withUnsafeBufferPointer<T: TensorScalar, R>(as: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R) throws -> R {
        guard T.dtype == dtype else {
            throw TensorError.invalidArgument(op: "withUnsafeBufferPointer", message: "tensor is \(dtype), asked for \(T.dtype)")
        }
        return try body(UnsafeBufferPointer(start: pointer(T.self), count: count))
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let vals = toFloat64().prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor(\(dtype), shape: \(formatShape(shape)), [\(vals)\(count > 8 ? ", ..." : "")])"
    }
}
