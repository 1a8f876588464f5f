/// torch.save's legacy raw stream (torch < 1.6, and `_use_new_zipfile_serialization=False`):
/// the format of torchvision's published VGG files and of MMagic's model-zoo checkpoints.
/// Five pickles one after another, then the storages:
///
/// 1. the magic number 0x1950a86a20f9469cfc6c, 2. the protocol version 1001, 3. `sys_info` (a
/// dict), 4. the object saved, whose tensors name their storages by persistent ids
/// `('storage', TYPE, KEY, location, numel, view)`, 5. the list of storage keys.
///
/// Then, for each key of that list in its order, `[i64 little-endian numel][numel × element
/// bytes]`. The stream is always little-endian (torch swaps when writing on a big-endian host).
/// Every storage's element size comes from its type in the persistent ids, so the object's
/// pickle is read before the storages are located; each count is checked against its
/// persistent id and the bytes present, and bytes after the last storage are refused. Tensors
/// are rebuilt and flattened exactly as in the zip format (`TorchCheckpoint`), sharing the
/// file's bytes.
enum TorchLegacy {
    static let magicNumber: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]

    static func read(buffer: NpyBuffer, path: String?, options: NpyReadOptions) throws(NpyError) -> WeightFile {
        let b = buffer.bytes
        // 1-3: the magic number, the protocol version and sys_info, each a small pickle.
        var pos = 0
        let header: [(what: String, check: (PickleValue) -> Bool)] = [
            ("the magic number", { if case let .bigInt(v) = $0 { return v == magicNumber }; return false }),
            ("protocol version 1001", { $0.intValue == 1001 }),
            ("sys_info (a dict)", { if case .dict = $0 { return true }; return false }),
        ]
        for (what, check) in header {
            let (value, end, boxes) = try PickleReader.read(b, at: pos)
            let ok = check(value)
            boxes.sever()
            guard ok else { throw NpyError(.torchFormat(message: "legacy stream: the pickle at byte \(pos) is not \(what)"), offset: pos) }
            pos = end
        }
        // 4: the object; its boxes stay alive until the tensors are rebuilt.
        let objectStart = pos
        let (root, objectEnd, boxes) = try PickleReader.read(b, at: pos)
        defer { boxes.sever() }
        // 5: the storage keys, in the order the storages follow.
        let (keyList, keysEnd, keyBoxes) = try PickleReader.read(b, at: objectEnd)
        let keys = keyList.tupleItems?.compactMap(\.stringValue)
        let listed = keyList.tupleItems?.count
        keyBoxes.sever()
        guard let keys, keys.count == listed else {
            throw NpyError(.torchFormat(message: "legacy stream: the last pickle is not a list of storage keys"), offset: objectEnd)
        }
        // Each storage's element size and count, from the persistent ids that name it.
        var elementSize: [String: Int] = [:], elementCount: [String: Int64] = [:]
        for pid in boxes.persistent {
            let sid: StorageTable.StorageID?
            do { sid = try StorageTable.StorageID(pid) } catch {
                var e = error
                e.offset = objectStart
                throw e
            }
            guard let sid else { continue }
            let (key, size, numel) = (sid.key, sid.itemSize, sid.numel)
            if let known = elementSize[key], known != size {
                throw NpyError(.torchFormat(message: "storage '\(key)' is named with two element sizes"), offset: objectStart)
            }
            if let known = elementCount[key], known != numel {
                throw NpyError(.torchFormat(message: "storage '\(key)' is named with \(known) and with \(numel) elements"), offset: objectStart)
            }
            elementSize[key] = size
            elementCount[key] = numel
        }
        // The storages: [i64 numel][bytes] each, in list order, and nothing after them.
        var table: [String: (start: Int, numel: Int64)] = [:]
        pos = keysEnd
        for key in keys {
            guard let size = elementSize[key], let named = elementCount[key] else {
                throw NpyError(.torchFormat(message: "storage '\(key)' is listed but no tensor names it"), offset: pos)
            }
            guard table[key] == nil else { throw NpyError(.torchFormat(message: "storage '\(key)' is listed twice"), offset: pos) }
            guard b.count - pos >= 8 else {
                throw NpyError(.truncated(reading: "the element count of storage '\(key)'", expected: 8, got: b.count - pos), offset: pos)
            }
            let numel = Int64(littleEndian: b.loadUnaligned(fromByteOffset: pos, as: Int64.self))
            guard numel == named else {
                throw NpyError(.torchFormat(message: "storage '\(key)' has \(numel) elements, its tensors' persistent id says \(named)"), offset: pos)
            }
            let (bytes, overflow) = numel.multipliedReportingOverflow(by: Int64(size))
            guard numel >= 0, !overflow, bytes <= Int64(b.count - pos - 8) else {
                throw NpyError(.truncated(reading: "storage '\(key)' (\(numel) elements of \(size) bytes)",
                                          expected: overflow || numel < 0 ? Int.max : Int(bytes), got: b.count - pos - 8), offset: pos + 8)
            }
            table[key] = (pos + 8, numel)
            pos += 8 + Int(bytes)
        }
        guard pos == b.count else {
            throw NpyError(.torchFormat(message: "\(b.count - pos) bytes after the last storage"), offset: pos)
        }
        var storages = StorageTable(source: .legacy(buffer, table), bigEndian: false,
                                    budget: options.memoryBudget ?? MemoryBudget.current())
        do throws(NpyError) {
            return WeightFile(format: .torchLegacy, path: path, tensors: try TorchCheckpoint.tensors(in: root, storages: &storages))
        } catch {
            var e = error
            if e.offset == nil { e.offset = objectStart }
            throw e
        }
    }
}
