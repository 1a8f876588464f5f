import CFault
import Foundation
import XCTest

/// The start-up check of x86-64 release builds (Sources/CFault/cpu.c): its decision and its
/// message, testable on a CPU that passes it.
final class CPUCheckTests: XCTestCase {
    /// The decision agrees with the kernel's view of the CPU: on x86-64 Linux, supported
    /// exactly when /proc/cpuinfo lists both avx2 and fma (the kernel drops them when the
    /// OS does not save the ymm registers); on other architectures always supported.
    func testDecisionMatchesTheCPU() throws {
        #if arch(x86_64) && os(Linux)
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flagsLine = try XCTUnwrap(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") })
        let flags = Set(flagsLine.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }).map(String.init))
        let expected: Int32 = flags.contains("avx2") && flags.contains("fma") ? 1 : 0
        // Here (AMD EPYC, avx2 and fma listed) that is 1: the check passes.
        XCTAssertEqual(cfault_cpu_supported(), expected)
        #else
        XCTAssertEqual(cfault_cpu_supported(), 1)
        #endif
    }

    /// The message names what is missing and what to do, on one line.
    func testMessageNamesAVX2AndFMA() throws {
        let message = String(cString: try XCTUnwrap(cfault_cpu_unsupported_message()))
        XCTAssertTrue(message.contains("AVX2"), message)
        XCTAssertTrue(message.contains("FMA"), message)
        XCTAssertTrue(message.contains("x86-64"), message)
        XCTAssertTrue(message.contains("swift build"), message)
        XCTAssertFalse(message.contains("\n"), message)
        XCTAssertFalse(message.hasPrefix("losscli"), "the prefix is added when it is written")
    }
}
