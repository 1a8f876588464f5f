import Foundation
import XCTest
@testable import LossCLI

/// The JSON writer the commands share: number digits, non-finite strings, key order, escaping.
final class JSONValueTests: XCTestCase {
    func testNumbersRoundTripTheirType() {
        let floats: [Float] = [0.1, 1.0 / 3.0, -2.5e-8, 3.4028235e38, 1.1754944e-38, 16_777_217, 0]
        for f in floats {
            let text = JSONValue.float(f).rendered()
            XCTAssertEqual(Float(text), f, text)
            let digits = text.prefix { $0 != "e" }.filter(\.isNumber).drop { $0 == "0" }
            XCTAssertLessThanOrEqual(digits.count, 9, text)
        }
        let doubles: [Double] = [0.1, 1.0 / 3.0, -2.5e-300, .greatestFiniteMagnitude, 5e-324, 9_007_199_254_740_993, -0.0]
        for d in doubles {
            let text = JSONValue.double(d).rendered()
            XCTAssertEqual(Double(text), d, text)
            let digits = text.prefix { $0 != "e" }.filter(\.isNumber).drop { $0 == "0" }
            XCTAssertLessThanOrEqual(digits.count, 17, text)
        }
        XCTAssertEqual(JSONValue.float(0.1).rendered(), "0.1")
        XCTAssertEqual(JSONValue.double(Double(Float(0.1))).rendered(), "0.10000000149011612")
    }

    func testNonFiniteAreStrings() {
        XCTAssertEqual(JSONValue.double(.nan).rendered(), "\"nan\"")
        XCTAssertEqual(JSONValue.double(.infinity).rendered(), "\"inf\"")
        XCTAssertEqual(JSONValue.float(-.infinity).rendered(), "\"-inf\"")
        XCTAssertEqual(JSONValue.double(nil as Double?).rendered(), "null")
    }

    func testKeyOrderEscapingAndLayout() throws {
        let doc = JSONValue.object([
            ("zeta", .int(1)), ("alpha", .array([.int(1), .int(2)])),
            ("q\"uote\n", .string("tab\there \u{1}")), ("nested", .object([("b", .bool(true)), ("a", .null)])),
        ])
        XCTAssertEqual(doc.rendered(pretty: false),
                       "{\"zeta\":1,\"alpha\":[1,2],\"q\\\"uote\\n\":\"tab\\there \\u0001\",\"nested\":{\"b\":true,\"a\":null}}")
        XCTAssertEqual(doc.rendered(), """
        {
          "zeta": 1,
          "alpha": [1, 2],
          "q\\"uote\\n": "tab\\there \\u0001",
          "nested": {
            "b": true,
            "a": null
          }
        }
        """)
        // Both layouts are JSON that Foundation reads back.
        for text in [doc.rendered(), doc.rendered(pretty: false)] {
            XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(text.utf8)))
        }
    }
}
