// libFuzzer entry point over NpyIO's .npy and .npz readers (`make fuzz-npy`; the weight-file
// readers have their own targets, fuzz/WeightFuzz.swift).
//
// Compiled together with Sources/NpyIO/*.swift into one module, so it calls the readers
// directly. Every input is tried as a `.npy` and as a `.npz`; whatever they return, every
// array is decoded and summarised so the conversion paths run too. A crash, a trap or a
// sanitizer report is a bug: nothing read from a file may trap.

@_cdecl("LLVMFuzzerTestOneInput")
public func npyFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    // A small header limit keeps each run fast; the limit's own check is exercised too.
    let options = NpyReadOptions(maxHeaderSize: 4096)
    if let a = try? Npy.read(bytes: bytes, options: options) {
        exercise(a)
    }
    if let z = try? NpzArchive.read(bytes: Array(bytes), options: options) {
        for name in z.names {
            if let a = try? z.array(named: name) { exercise(a) }
        }
    }
    return 0
}

private func exercise(_ a: NpyArray) {
    // Decoding allocates count elements; the bytes are present (checked by the reader),
    // so this is bounded by the input size.
    let f = a.toFloat32()
    let d = a.toFloat64()
    let s = NpyStatistics(a, threads: 1)
    if f.count != a.count || d.count != a.count || s.count != a.count { fatalError("count mismatch") }
    // bfloat16 (from weight files) has no NumPy descr: the writer must refuse it, typed.
    if a.dtype.kind == .bfloat16 {
        if (try? Npy.encode(a)) != nil { fatalError("a bfloat16 array was written as .npy") }
        return
    }
    // What the writer makes of it must read back as the same array.
    guard let encoded = try? Npy.encode(a), let back = try? Npy.read(bytes: encoded, options: NpyReadOptions(maxHeaderSize: 1 << 20)) else {
        fatalError("an array that was read could not be written and read back")
    }
    let same = back.dtype == a.dtype && back.shape == a.shape && back.fortranOrder == a.fortranOrder
        && back.withUnsafeDataBytes({ Array($0) }) == a.withUnsafeDataBytes({ Array($0) })
    if !same { fatalError("write/read round trip changed the array") }
}
