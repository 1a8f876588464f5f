// libFuzzer entry point over the safetensors reader (`make fuzz-safetensors`).
//
// Compiled together with Sources/NpyIO/*.swift into one module, so it calls the reader
// directly, on the bytes in memory (and through WeightFile's detection). Whatever it accepts is
// checked again here, independently: every array lies in the data region, and sorted by offset
// the arrays tile it exactly; every array is decoded and summarised so the conversions (bfloat16
// included) run too. A crash, a trap or a sanitizer report is a bug: nothing read from a file
// may trap.

@_cdecl("LLVMFuzzerTestOneInput")
public func safetensorsFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let buffer = NpyBuffer(copying: bytes)
    if let w = try? Safetensors.read(buffer: buffer, path: nil, options: NpyReadOptions()) {
        check(w, buffer: buffer)
    }
    // By detection, as a file's bytes reach it.
    if let w = try? WeightFile.read(bytes: Array(bytes)), w.format == .safetensors {
        for (_, a) in w.tensors { exercise(a) }
    }
    return 0
}

private func check(_ w: WeightFile, buffer: NpyBuffer) {
    if w.format != .safetensors { fatalError("format \(w.format)") }
    var n = 0
    for i in (0..<8).reversed() { n = n << 8 | Int(buffer.bytes[i]) }
    let dataStart = 8 + n
    var ranges: [(Int, Int)] = []
    var keys = Set<String>()
    for (key, a) in w.tensors {
        if !keys.insert(key).inserted { fatalError("duplicate key") }
        if a.buffer !== buffer { fatalError("an array was copied") }
        var count = 1
        for d in a.shape { count *= d }
        if count != a.count || a.byteCount != a.count * a.dtype.itemSize { fatalError("count mismatch") }
        if a.dataOffset < dataStart || a.dataOffset + a.byteCount > buffer.count { fatalError("array outside the data") }
        ranges.append((a.dataOffset, a.dataOffset + a.byteCount))
        exercise(a)
    }
    var reached = dataStart
    for (begin, end) in ranges.sorted(by: { $0 < $1 }) {
        if begin != reached { fatalError("the arrays do not tile the data") }
        reached = end
    }
    if reached != buffer.count { fatalError("bytes after the last array") }
}

private func exercise(_ a: NpyArray) {
    let f = a.toFloat32()
    let d = a.toFloat64()
    let s = NpyStatistics(a, threads: 1)
    if f.count != a.count || d.count != a.count || s.count != a.count { fatalError("count mismatch") }
    // Floats of at most 4 bytes (and bools) are exact in both.
    if a.dtype.kind == .bool || (a.dtype.isFloatingPoint && a.dtype.itemSize <= 4) {
        for (x, y) in zip(f, d) where !(Double(x) == y || (x.isNaN && y.isNaN)) { fatalError("float32 and float64 decodings disagree") }
    }
    // bfloat16 has no NumPy descr: writing it must be refused, typed.
    if a.dtype.kind == .bfloat16, (try? Npy.encode(a)) != nil { fatalError("a bfloat16 array was written as .npy") }
}
