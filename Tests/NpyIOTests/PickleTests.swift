import Foundation
import XCTest
@testable import NpyIO

/// NpyIO's symbolic pickle reader against pickles Python's own `pickle` wrote (protocols 2 to
/// 5: every opcode those protocols use for plain data, memo sharing, OrderedDict, persistent
/// ids) and against hand-made hostile ones, each refused with its own error
/// (fixtures/pickle/cases.json, scripts/gen_pickle_fixtures.py).
final class PickleTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable { let name: String; let hex: String; let expect: String }
        struct Hostile: Decodable { let name: String; let hex: String; let error: String }
        let cases: [Case]
        let hostile: [Hostile]
    }

    func fixture() throws -> Fixture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/pickle/cases.json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            out.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    static func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

    /// The rendering gen_pickle_fixtures.py's `render` gives.
    static func render(_ v: PickleValue) -> String {
        switch v {
        case .none: return "None"
        case let .bool(b): return b ? "True" : "False"
        case let .int(i): return String(i)
        case let .bigInt(b): return "long:" + hex(b)
        case let .float(d): return "f:" + String(format: "%016llx", d.bitPattern)
        case let .string(s): return "s:" + hex(Array(s.utf8))
        case let .bytes(b): return "b:" + hex(b)
        case let .tuple(box): return "(" + box.items.map(render).joined(separator: ",") + ")"
        case let .list(box): return "[" + box.items.map(render).joined(separator: ",") + "]"
        case let .dict(box): return "{" + box.pairs.map { render($0.key) + ":" + render($0.value) }.joined(separator: ",") + "}"
        case let .set(box): return "set{" + box.items.map(render).joined(separator: ",") + "}"
        case let .global(m, n): return "g:\(m).\(n)"
        case let .call(parts, state):
            let args = parts.items.dropFirst().map(render)
            return "call(" + render(parts.items[0]) + (args.isEmpty ? "" : ";" + args.joined(separator: ","))
                + (state.map { "|" + $0.items.map(render).joined(separator: ",") } ?? "") + ")"
        case let .persistent(box): return "pid(" + box.items.map(render).joined(separator: ",") + ")"
        }
    }

    func testPythonPicklesReadAsWritten() throws {
        let f = try fixture()
        XCTAssertGreaterThan(f.cases.count, 25)
        for c in f.cases {
            let data = Self.bytes(c.hex)
            let (value, end, boxes) = try data.withUnsafeBytes { try PickleReader.read($0) }
            XCTAssertEqual(Self.render(value), c.expect, c.name)
            XCTAssertEqual(end, data.count, "\(c.name): the pickle ends at its STOP")
            boxes.sever()
        }
    }

    func testHostilePicklesAreRefusedEachWithItsError() throws {
        for h in try fixture().hostile {
            let data = Self.bytes(h.hex)
            XCTAssertThrowsError(try data.withUnsafeBytes { try PickleReader.read($0) }, h.name) { error in
                XCTAssertTrue("\(error)".contains(h.error), "\(h.name): \(error)")
            }
        }
    }

    /// Limits: the stack and the container elements are bounded; a 200,000-deep structure is
    /// released without recursing once severed (its deinit chain would overflow the stack).
    func testLimitsAndDeepStructures() throws {
        // ((((None,),),)...) through TUPLE1, 200,000 deep: read, walked and released.
        var tuples: [UInt8] = [0x80, 0x02, 0x4E]
        for _ in 0..<200_000 { tuples.append(0x85) }
        tuples.append(0x2E)
        let (v, _, boxes) = try tuples.withUnsafeBytes { try PickleReader.read($0) }
        var depth = 0
        var cur = v
        while case let .tuple(b) = cur, let first = b.items.first { depth += 1; cur = first }
        XCTAssertEqual(depth, 200_000)
        boxes.sever()

        var small = PickleLimits()
        small.elements = 10
        let many: [UInt8] = [0x80, 0x02, 0x5D, 0x28] + [UInt8](repeating: 0x4E, count: 11) + [0x65, 0x2E]
        XCTAssertThrowsError(try many.withUnsafeBytes { try PickleReader.read($0, limits: small) }) { error in
            XCTAssertTrue("\(error)".contains("more than 10 container elements"), "\(error)")
        }
        small.stack = 5
        let tall: [UInt8] = [0x80, 0x02] + [UInt8](repeating: 0x4E, count: 6) + [0x2E]
        XCTAssertThrowsError(try tall.withUnsafeBytes { try PickleReader.read($0, limits: small) }) { error in
            XCTAssertTrue("\(error)".contains("more than 5 values on the stack"), "\(error)")
        }
    }

    /// A pickle that makes a cycle (a list appended to itself) and then fails leaves no
    /// reachable boxes: the reader severs them on the error path too (found by make fuzz-npy).
    func testCyclesAreSeveredWhenAPickleFails() throws {
        weak var box: PickleBox?
        // [] DUP APPEND (the list contains itself), then an unknown opcode.
        let bytes: [UInt8] = [0x80, 0x02, 0x5D, 0x32, 0x61, 0xFF]
        XCTAssertThrowsError(try bytes.withUnsafeBytes { raw in
            do { _ = try PickleReader.read(raw) } catch { throw error }
        })
        // The same cycle read successfully, then severed: released.
        let ok: [UInt8] = [0x80, 0x02, 0x5D, 0x32, 0x61, 0x2E]
        try ok.withUnsafeBytes { raw in
            let (v, _, boxes) = try PickleReader.read(raw)
            if case let .list(b) = v { box = b }
            boxes.sever()
        }
        XCTAssertNil(box, "a severed cycle is released")
    }
}
