#if canImport(Glibc)
import Glibc
#endif

/// The tensors of a PyTorch checkpoint, read without Python, from torch.save's zip format
/// (torch ≥ 1.6) or a TorchScript archive (`torch.jit.save`): a ZIP (`ZipArchive`) of stored
/// records under one top folder, taken from the first entry (`NAME/data.pkl`, `NAME/byteorder`,
/// `NAME/data/KEY`). `data.pkl` is read by the symbolic `PickleReader`; tensors are the
/// `torch._utils._rebuild_tensor(_v2)` calls in it (and `_rebuild_parameter` around one), their
/// storages the `('storage', TYPE, KEY, location, numel)` persistent ids. Every dict on the way
/// is flattened into dotted keys (`state_dict.features.0.weight`), and so is the attribute dict
/// of each TorchScript module object (`__torch__.…` classes: `visual.conv1.weight`); anything
/// else in the pickle (mmengine's objects, numpy scalars in `meta`) is ignored. TorchScript's
/// `code/` and `constants.pkl` are never read. A storage's bytes are used in place; a tensor
/// that is a C-order view of its storage (the usual case, and slices at an offset) is too, any
/// other view (a transpose, an expand) is gathered into C order. Big-endian files (`byteorder`
/// = `big`) give big-endian arrays, which NpyIO's conversions swap. The legacy raw stream is
/// `TorchLegacy`, which shares the storage table and the flattening.
///
/// Not supported, each refused with a message naming it: `_rebuild_tensor_v3` and tensors with
/// conjugate/negative bits.
enum TorchCheckpoint {
    /// The top folder when the ZIP holds a torch.save record set (`FOLDER/data.pkl`, every
    /// member under `FOLDER/`, which is taken from the first entry).
    static func recordPrefix(_ zip: ZipArchive) -> String? {
        guard let first = zip.members.first?.name, let slash = first.firstIndex(of: "/") else { return nil }
        let prefix = String(first[...slash])
        return zip.members.contains { $0.name == prefix + "data.pkl" } ? prefix : nil
    }

    static func isCheckpoint(_ zip: ZipArchive) -> Bool { recordPrefix(zip) != nil }

    static func read(zip: ZipArchive, path: String?, options: NpyReadOptions) throws(NpyError) -> WeightFile {
        guard let prefix = recordPrefix(zip) else {
            throw NpyError(.torchFormat(message: "no FOLDER/data.pkl: the archive is not a torch.save file"))
        }
        var members: [String: ZipArchive.Member] = [:]
        for m in zip.members {
            guard m.name.hasPrefix(prefix) else {
                throw NpyError(.torchFormat(message: "member '\(m.name)' is outside the top folder '\(prefix)'"), member: m.name)
            }
            members[String(m.name.dropFirst(prefix.count))] = m
        }
        // torch.jit.save writes constants.pkl (and code/); torch.save never does.
        let format: WeightFormat = members["constants.pkl"] != nil ? .torchScript : .torchZip
        guard let pkl = members["data.pkl"] else { throw NpyError(.torchFormat(message: "no \(prefix)data.pkl")) }
        var bigEndian = false
        if let order = members["byteorder"] {
            let (b, start, count) = try zip.contents(of: order)
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: b.bytes[start..<(start + count)]), as: UTF8.self)
            switch text {
            case "little": bigEndian = false
            case "big": bigEndian = true
            default: throw NpyError(.torchFormat(message: "byteorder record says '\(text.prefix(20))', expected little or big"), member: order.name)
            }
        }
        let (pb, ps, pc) = try zip.contents(of: pkl)
        let pickle = UnsafeRawBufferPointer(rebasing: pb.bytes[ps..<(ps + pc)])
        let (root, end, boxes) = try PickleReader.read(pickle)
        defer { boxes.sever() }
        guard end == pc else {
            throw NpyError(.torchFormat(message: "\(pc - end) bytes after the pickle's STOP"), member: pkl.name, offset: end)
        }
        var storages = StorageTable(source: .zip(zip, members: members, prefix: prefix), bigEndian: bigEndian,
                                    budget: options.memoryBudget ?? MemoryBudget.current())
        do throws(NpyError) {
            return WeightFile(format: format, path: path, tensors: try tensors(in: root, storages: &storages))
        } catch {
            throw error.located(file: nil, member: error.member ?? pkl.name)
        }
    }

    /// The tensors of a checkpoint's main object. A pickle that is nothing but a call
    /// (os.system, builtins.eval...) is refused by name: it was never run, but it is not a
    /// checkpoint either.
    static func tensors(in root: PickleValue, storages: inout StorageTable) throws(NpyError) -> [(key: String, array: NpyArray)] {
        let found = try flatten(root) { value throws(NpyError) in try storages.tensor(value) }
        if found.isEmpty, let (callee, _) = root.callParts, let name = callee.globalName, !name.hasPrefix("__torch__.") {
            throw NpyError(.torchFormat(message: "holds no tensors, only a call to \(name) (never run: losscli does not execute pickles)"))
        }
        return found
    }

    /// TorchScript's type annotations and list builders (`torch.jit._pickle`): identities on
    /// their first argument.
    static let identityCalls: Set<String> = [
        "torch.jit._pickle.restore_type_tag", "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_tensorlist",
        "torch.jit._pickle.build_doublelist", "torch.jit._pickle.build_boollist",
    ]

    /// Walks dicts and TorchScript module objects (iteratively, each box once, depth at most
    /// 64) and collects what `tensor` recognises, under dotted keys.
    static func flatten(_ root: PickleValue, _ tensor: (PickleValue) throws(NpyError) -> NpyArray?)
        throws(NpyError) -> [(key: String, array: NpyArray)] {
        var out: [(key: String, array: NpyArray)] = []
        var seen = Set<ObjectIdentifier>()
        var stack: [(prefix: String, value: PickleValue, depth: Int)] = [("", root, 0)]
        var keys = Set<String>()
        while let (prefix, value, depth) = stack.popLast() {
            if let array = try tensor(value) {
                let key = prefix.isEmpty ? "tensor" : prefix
                guard keys.insert(key).inserted else { throw NpyError(.torchFormat(message: "key '\(key)' names two tensors")) }
                out.append((key, array))
                continue
            }
            guard depth < 64 else { continue }
            var node = value
            if case let .call(parts, state) = value, let callee = parts.items.first?.globalName {
                if identityCalls.contains(callee), parts.items.count >= 2 {
                    stack.append((prefix, parts.items[1], depth + 1))
                    continue
                }
                // A TorchScript module: GLOBAL '__torch__.NAME' + NEWOBJ + BUILD {attribute: value}.
                guard callee.hasPrefix("__torch__."), let attributes = state?.items.first, case .dict = attributes,
                      seen.insert(ObjectIdentifier(parts)).inserted else { continue }
                node = attributes
            }
            guard case let .dict(box) = node, seen.insert(ObjectIdentifier(box)).inserted else { continue }
            // Reversed onto the stack, so the pickle's order comes out.
            for (k, v) in box.pairs.reversed() {
                let name: String
                switch k {
                case let .string(s): name = s
                case let .int(i): name = String(i)
                default: continue
                }
                stack.append((prefix.isEmpty ? name : prefix + "." + name, v, depth + 1))
            }
        }
        return out
    }
}

/// The storages of one checkpoint, and tensors rebuilt on them.
struct StorageTable {
    /// Where storages' bytes are: the zip format's `data/KEY` records, or the legacy stream's
    /// storages after its pickles (`TorchLegacy`), found by key.
    enum Source {
        case zip(ZipArchive, members: [String: ZipArchive.Member], prefix: String)
        /// Each storage's bytes (after its 8-byte count) and the element count its record gives.
        case legacy(NpyBuffer, [String: (start: Int, numel: Int64)])
    }
    let source: Source
    let bigEndian: Bool
    let budget: MemoryBudget
    /// Storage key -> its bytes and dtype (one dtype per key).
    private var loaded: [String: (buffer: NpyBuffer, start: Int, numel: Int, dtype: NpyDType)] = [:]
    /// Bytes gathered for strided views so far (bounded by the budget).
    private var gathered: UInt64 = 0

    init(source: Source, bigEndian: Bool, budget: MemoryBudget) {
        self.source = source
        self.bigEndian = bigEndian
        self.budget = budget
    }

    static let storageTypes: [String: (NpyScalarKind, Int)] = [
        "FloatStorage": (.float, 4), "DoubleStorage": (.float, 8), "HalfStorage": (.float, 2),
        "LongStorage": (.int, 8), "IntStorage": (.int, 4), "ShortStorage": (.int, 2), "CharStorage": (.int, 1),
        "ByteStorage": (.uint, 1), "BoolStorage": (.bool, 1), "BFloat16Storage": (.bfloat16, 2),
    ]

    /// A storage's persistent id, `('storage', TYPE, KEY, location, numel[, view])`, with its
    /// element type; nil when `id` is not such a tuple. Both torch.save formats name storages so.
    struct StorageID {
        let type: String, key: String, numel: Int64
        let kind: NpyScalarKind, itemSize: Int
        /// The tuple's items (the sixth, when present, is a view of torch < 0.4).
        let items: [PickleValue]

        init?(_ id: PickleValue) throws(NpyError) {
            guard let items = id.tupleItems, items.count >= 5, items[0].stringValue == "storage",
                  let type = items[1].globalName, let key = items[2].stringValue, let numel = items[4].intValue else { return nil }
            let typeName = type.split(separator: ".").last.map(String.init) ?? type
            guard type.hasPrefix("torch."), let (kind, size) = StorageTable.storageTypes[typeName] else {
                throw NpyError(.torchFormat(message: "storage type \(type) is not supported"))
            }
            (self.type, self.key, self.numel, self.kind, self.itemSize, self.items) = (type, key, numel, kind, size, items)
        }
    }

    /// The array of `value` when it is a rebuilt tensor; nil for anything else.
    mutating func tensor(_ value: PickleValue) throws(NpyError) -> NpyArray? {
        guard let (callee, args) = value.callParts, let name = callee.globalName else { return nil }
        switch name {
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard let inner = args.first else { throw NpyError(.torchFormat(message: "_rebuild_parameter without a tensor")) }
            return try tensor(inner)
        case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2":
            let a = Array(args)
            guard a.count >= 4 else { throw NpyError(.torchFormat(message: "\(name) with \(a.count) arguments, expected at least 4")) }
            if a.count >= 7, case let .dict(meta) = a[6], !meta.items.isEmpty {
                throw NpyError(.torchFormat(message: "tensor metadata (conjugate or negative bits) is not supported"))
            }
            return try view(storage: a[0], offset: a[1], size: a[2], stride: a[3])
        case "torch._utils._rebuild_tensor_v3":
            throw NpyError(.torchFormat(message: "_rebuild_tensor_v3 (uint16/32/64, float8 or complex32 storages) is not supported"))
        default:
            return nil
        }
    }

    private mutating func storage(_ pid: PickleValue) throws(NpyError) -> (buffer: NpyBuffer, start: Int, numel: Int, dtype: NpyDType) {
        guard case let .persistent(box) = pid, let first = box.items.first, let sid = try StorageID(first) else {
            throw NpyError(.torchFormat(message: "a tensor's storage is not a ('storage', TYPE, KEY, location, numel) persistent id"))
        }
        let (key, size, id) = (sid.key, sid.itemSize, sid.items)
        let dtype = NpyDType(kind: sid.kind, itemSize: size, byteOrder: size == 1 ? .notApplicable : (bigEndian ? .big : .little))
        let root = try rootStorage(key: key, numel: sid.numel, dtype: dtype)
        // Files of torch < 0.4 may name a view of a storage: (view_key, offset, size), in elements.
        guard id.count >= 6, let view = id[5].tupleItems else { return root }
        guard view.count == 3, let off = view[1].intValue, let n = view[2].intValue, off >= 0, n >= 0,
              off <= Int64(root.numel), n <= Int64(root.numel) - off else {
            throw NpyError(.torchFormat(message: "storage '\(key)' has a view that is not (key, offset, size) within its \(root.numel) elements"))
        }
        return (root.buffer, root.start + Int(off) * size, Int(n), dtype)
    }

    private mutating func rootStorage(key: String, numel numel64: Int64, dtype: NpyDType)
        throws(NpyError) -> (buffer: NpyBuffer, start: Int, numel: Int, dtype: NpyDType) {
        let size = dtype.itemSize
        if let s = loaded[key] {
            guard s.dtype == dtype else { throw NpyError(.torchFormat(message: "storage '\(key)' is read as two dtypes")) }
            guard Int64(s.numel) == numel64 else {
                throw NpyError(.torchFormat(message: "storage '\(key)' is named with \(s.numel) and with \(numel64) elements"))
            }
            return s
        }
        let buffer: NpyBuffer, start: Int, count: Int
        switch source {
        case let .zip(zip, members, prefix):
            guard let member = members["data/" + key] else {
                throw NpyError(.torchFormat(message: "no record \(prefix)data/\(key) for storage '\(key)'"))
            }
            guard member.method == 0 else {
                throw NpyError(.torchFormat(message: "storage record is compressed (torch.save stores them)"), member: member.name)
            }
            (buffer, start, count) = try zip.contents(of: member)
        case let .legacy(file, table):
            guard let (at, recorded) = table[key] else {
                throw NpyError(.torchFormat(message: "storage '\(key)' is not in the file's list of storages"))
            }
            let (bytes, overflow) = recorded.multipliedReportingOverflow(by: Int64(size))
            guard !overflow, bytes <= Int64(file.count - at) else {
                throw NpyError(.torchFormat(message: "storage '\(key)' of \(recorded) elements of \(size) bytes runs past the end of the file"))
            }
            (buffer, start, count) = (file, at, Int(bytes))
        }
        let (bytes, overflow) = numel64.multipliedReportingOverflow(by: Int64(size))
        guard numel64 >= 0, !overflow, bytes == Int64(count) else {
            throw NpyError(.torchFormat(message: "storage '\(key)' claims \(numel64) elements of \(size) bytes, its record has \(count) bytes"))
        }
        let s = (buffer, start, Int(numel64), dtype)
        loaded[key] = s
        return s
    }

    private mutating func view(storage pid: PickleValue, offset: PickleValue, size: PickleValue, stride: PickleValue) throws(NpyError) -> NpyArray {
        let s = try storage(pid)
        guard let off = offset.intValue, let sizes = size.tupleItems?.map({ $0.intValue }), let strides = stride.tupleItems?.map({ $0.intValue }),
              sizes.count == strides.count, sizes.count <= 32 else {
            throw NpyError(.torchFormat(message: "a tensor's offset, size and stride are not integers of one rank (at most 32)"))
        }
        var shape: [Int] = [], step: [Int] = []
        for (d, t) in Swift.zip(sizes, strides) {
            guard let d, let t, d >= 0, t >= 0, d <= Int64(Int.max), t <= Int64(Int.max) else {
                throw NpyError(.torchFormat(message: "a tensor has a negative or non-integer size or stride"))
            }
            shape.append(Int(d)); step.append(Int(t))
        }
        guard off >= 0, off <= Int64(s.numel), let (count, _) = NpyFormat.sizes(shape: shape, itemSize: s.dtype.itemSize) else {
            throw NpyError(.torchFormat(message: "a tensor's offset \(off) or shape \(NpyError.shapeText(shape)) does not fit its storage"))
        }
        let start = Int(off)
        if count > 0 {
            // The last element the view reads: offset + Σ (size − 1)·stride, in checked arithmetic.
            var last = start
            for (d, t) in Swift.zip(shape, step) {
                let (p, o1) = (d - 1).multipliedReportingOverflow(by: t)
                let (q, o2) = last.addingReportingOverflow(p)
                guard !o1, !o2 else { throw NpyError(.torchFormat(message: "a tensor's strides overflow")) }
                last = q
            }
            guard last < s.numel else {
                throw NpyError(.torchFormat(message: "a tensor of shape \(NpyError.shapeText(shape)) at offset \(start) reads element \(last) of a storage of \(s.numel)"))
            }
        }
        let header = NpyHeader(version: (1, 0), dtype: s.dtype, shape: shape, fortranOrder: false, count: count,
                               byteCount: count * s.dtype.itemSize, dataOffset: 0)
        if Self.isCOrder(shape, step) {
            return NpyArray(header: header, buffer: s.buffer, dataOffset: s.start + start * s.dtype.itemSize)
        }
        // Any other view (a transpose, an expand): gathered into C order, within the budget.
        let bytes = count * s.dtype.itemSize
        gathered &+= UInt64(bytes)
        guard gathered <= budget.available, let p = NpyBuffer.allocate(bytes) else {
            throw NpyError(.exceedsMemory(what: "gathering strided tensor views", bytes: gathered, budget: budget))
        }
        NpyConvert.stridedToC(s.buffer.bytes.baseAddress! + s.start + start * s.dtype.itemSize, p,
                              shape: shape, strides: step, itemSize: s.dtype.itemSize)
        return NpyArray(header: header, buffer: NpyBuffer(adopting: p, count: bytes), dataOffset: 0)
    }

    /// Whether strides are those of C order (dimensions of size 1 may have any stride).
    static func isCOrder(_ shape: [Int], _ stride: [Int]) -> Bool {
        var expected = 1
        for (d, t) in Swift.zip(shape, stride).reversed() {
            if d != 1 && t != expected { return false }
            expected *= d
        }
        return true
    }
}
