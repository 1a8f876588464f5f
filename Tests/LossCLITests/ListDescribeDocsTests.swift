import Foundation
import XCTest

/// `list`, `describe`, the examples in `--help` and the commands of README's "Golden-file checks in CI".
final class ListDescribeDocsTests: XCTestCase {
    func testListShowsRegisteredTypes() throws {
        let json = try EvalHarness.run(["list", "--format", "json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let losses = try XCTUnwrap(try json.json()["losses"] as? [[String: Any]])
        let names = losses.compactMap { $0["name"] as? String }
        for name in ["L1Loss", "MSELoss", "CharbonnierLoss", "GANLoss", "DiscShiftLossComps"] {
            XCTAssertTrue(names.contains(name), name)
        }
        let l1 = try XCTUnwrap(losses.first { $0["name"] as? String == "L1Loss" })
        XCTAssertEqual(l1["inputs"] as? [String], ["pred", "target", "weight"])
        let table = try EvalHarness.run(["list", "--format", "table"])
        XCTAssertEqual(table.status, 0)
        for name in names { XCTAssertTrue(table.stdout.contains(name), name) }
    }

    func testDescribeShowsParametersDefaultsAndInputs() throws {
        let r = try EvalHarness.run(["describe", "L1Loss", "--format", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try r.json()
        XCTAssertEqual(json["name"] as? String, "L1Loss")
        let parameters = try XCTUnwrap(json["parameters"] as? [[String: Any]])
        let reduction = try XCTUnwrap(parameters.first { $0["name"] as? String == "reduction" })
        XCTAssertEqual(reduction["default"] as? String, "mean")
        XCTAssertEqual(reduction["allowed"] as? [String], ["none", "mean", "sum"])
        let weight = try XCTUnwrap(parameters.first { $0["name"] as? String == "loss_weight" })
        XCTAssertEqual((weight["default"] as? NSNumber)?.doubleValue, 1.0)
        let inputs = try XCTUnwrap(json["inputs"] as? [[String: Any]])
        XCTAssertEqual(inputs.compactMap { $0["name"] as? String }, ["pred", "target", "weight"])
        XCTAssertEqual(inputs.last?["optional"] as? Bool, true)

        let gan = try EvalHarness.run(["describe", "GANLoss", "--format", "table"])
        XCTAssertEqual(gan.status, 0, gan.stderr)
        for fragment in ["gan_type", "(required)", "vanilla", "target_is_real", "args", "Example config"] {
            XCTAssertTrue(gan.stdout.contains(fragment), fragment)
        }
    }

    func testDescribeUnknownTypeSuggestsCloseNames() throws {
        let r = try EvalHarness.run(["describe", "L1loss"])
        assertUsageError(r, mentions: ["L1loss", "L1Loss"])
        XCTAssertTrue(r.stderr.contains("did you mean"), r.stderr)
        assertUsageError(try EvalHarness.run(["describe", "GanLos"]), mentions: ["GANLoss"])
        assertUsageError(try EvalHarness.run(["describe", "Zebra"]), mentions: ["Zebra", "L1Loss"])
    }

    /// Lines of a text that are commands (`losscli ...`, with `\` continuations joined).
    func commands(in text: String) -> [String] {
        var out: [String] = []
        var pending: String? = nil
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if var p = pending {
                p += " " + line
                pending = nil
                if p.hasSuffix("\\") { pending = String(p.dropLast()) } else { out.append(p) }
            } else if line.hasPrefix("losscli ") {
                if line.hasSuffix("\\") { pending = String(line.dropLast()) } else { out.append(line) }
            }
        }
        return out
    }

    /// Runs a documented command line through the shell (quotes, `>` redirections) in `dir`.
    func shell(_ command: String, in dir: URL) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        let bin = EvalHarness.binary.deletingLastPathComponent().path
        // The command's own redirections (`> golden.json`) apply inside the parentheses.
        process.arguments = ["-c", "export PATH='\(bin)':\"$PATH\"; (" + command + ") >/dev/null 2>&1"]
        process.currentDirectoryURL = dir
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Every example in `--help` runs and succeeds, from a folder laid out like the repository.
    func testHelpExamplesWork() throws {
        var total = 0
        for command in ["", "eval", "check", "list", "describe", "inspect"] {
            let help = try EvalHarness.run(command.isEmpty ? ["--help"] : [command, "--help"])
            XCTAssertEqual(help.status, 0, help.stderr)
            let examples = commands(in: help.stdout)
            XCTAssertFalse(examples.isEmpty, "\(command) --help has no example")
            // Each help's examples run in order in one folder (check's uses eval's outputs).
            let dir = try EvalHarness.repositoryLikeDirectory(self)
            for example in examples {
                XCTAssertEqual(try shell(example, in: dir), 0, "`\(example)` from \(command) --help")
                total += 1
            }
        }
        XCTAssertGreaterThanOrEqual(total, 13)
    }

    /// The eval-then-check workflow of README's "Golden-file checks in CI" works as written.
    func testGoldenChecksDocCommandsWork() throws {
        let readme = try String(contentsOf: EvalHarness.root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try XCTUnwrap(readme.range(of: "## Golden-file checks in CI"), "README has no golden-checks section")
        let rest = readme[section.upperBound...]
        let text = String(rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)])
        let examples = commands(in: text)
        XCTAssertEqual(examples.count, 2, "\(examples)")
        let dir = try EvalHarness.repositoryLikeDirectory(self)
        for line in examples { XCTAssertEqual(try shell(line, in: dir), 0, line) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("demo-golden.json").path))
        // And the check really compares: an edited golden fails with exit 1.
        let golden = dir.appendingPathComponent("demo-golden.json")
        let edited = try String(contentsOf: golden, encoding: .utf8)
            .replacingOccurrences(of: "\n  \"total\": ", with: "\n  \"total\": 1000")
        try edited.write(to: golden, atomically: true, encoding: .utf8)
        XCTAssertEqual(try shell(examples[1], in: dir), 1)
    }
}
