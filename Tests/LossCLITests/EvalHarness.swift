import Foundation
import XCTest

enum HarnessError: Error, CustomStringConvertible {
    case notBuilt(String)
    var description: String {
        switch self {
        case let .notBuilt(path): return "\(path) is not built: run `swift build --product losscli` (or `make test`) first"
        }
    }
}

/// Runs the built `losscli` as a user would and captures what it printed.
enum EvalHarness {
    /// The package root, found from this file's path (Tests/LossCLITests/EvalHarness.swift).
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = root.appendingPathComponent("fixtures/cli")
    static let binary = root.appendingPathComponent(".build/debug/losscli")

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String

        /// The stdout parsed as a JSON object.
        func json(file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
            let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8), options: [.fragmentsAllowed])
            return try XCTUnwrap(object as? [String: Any], "stdout is not a JSON object: \(stdout)", file: file, line: line)
        }
    }

    /// Runs `losscli ARGS` in `directory` (default: fixtures/cli) with stdout and stderr
    /// going to files, so neither pipe can fill up and block the child.
    /// `environment` adds to (or replaces) the test process's variables.
    static func run(_ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:]) throws -> Result {
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw HarnessError.notBuilt(binary.path)
        }
        return try runProgram(binary.path, arguments, in: directory, environment: environment)
    }

    /// Runs any program the same way (used to run losscli under `script` for a terminal).
    static func runProgram(_ path: String, _ arguments: [String], in directory: URL? = nil,
                           environment: [String: String] = [:]) throws -> Result {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("losscli-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("stdout"), err = scratch.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.currentDirectoryURL = directory ?? fixtures
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        try process.run()
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      stdout: try String(contentsOf: out, encoding: .utf8),
                      stderr: try String(contentsOf: err, encoding: .utf8))
    }

    /// A fresh empty folder, removed by the test case's teardown.
    static func temporaryDirectory(_ testCase: XCTestCase) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("losscli-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        testCase.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// A scratch folder holding a link to the repository's `fixtures`, to run documented
    /// commands (which name `fixtures/...` and write their outputs to the current folder).
    static func repositoryLikeDirectory(_ testCase: XCTestCase) throws -> URL {
        let dir = try temporaryDirectory(testCase)
        try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent("fixtures"),
                                                   withDestinationURL: root.appendingPathComponent("fixtures"))
        return dir
    }
}

/// Asserts the contract of a failed run: exit 2, nothing on stdout, one line on stderr that
/// starts with `losscli: error: ` and contains every one of `fragments`.
func assertUsageError(_ result: EvalHarness.Result, mentions fragments: [String],
                      file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(result.status, 2, "exit status; stderr: \(result.stderr)", file: file, line: line)
    XCTAssertEqual(result.stdout, "", "stdout of a failed run", file: file, line: line)
    let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: true)
    XCTAssertEqual(lines.count, 1, "stderr must be one line: \(result.stderr)", file: file, line: line)
    XCTAssertTrue(result.stderr.hasPrefix("losscli: error: "), "stderr: \(result.stderr)", file: file, line: line)
    for fragment in fragments {
        XCTAssertTrue(result.stderr.contains(fragment), "stderr lacks \"\(fragment)\": \(result.stderr)", file: file, line: line)
    }
}

/// NumPy's isclose, for comparing with references.
func assertClose(_ got: Double, _ expected: Double, rtol: Double, atol: Double = 0, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertLessThanOrEqual(abs(got - expected), atol + rtol * abs(expected),
                             "\(what): got \(got), expected \(expected), diff \(abs(got - expected))", file: file, line: line)
}
