import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NpyIO

/// The `losscli` command: MMagic's losses, with gradients, from .npy/.npz tensors.
@main
struct LossCLI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "losscli",
        abstract: "Compute MMagic's losses and their gradients on NumPy tensors, without Python.",
        discussion: """
        Examples (from the repository root):
          losscli list
          losscli describe L1Loss
          losscli eval --config fixtures/demo/loss.json
          losscli inspect fixtures/demo/pred.npy
        """,
        version: "0.1.0",
        subcommands: [Eval.self, Check.self, List.self, Describe.self, Inspect.self]
    )

    /// Parses, runs, and turns every outcome into the contract's exit status:
    /// help and version → 0 on stdout; any usage, validation or input error → one
    /// `losscli: error: ...` line on stderr and 2; `CLIExit` → its own code.
    static func main() {
        // From here on: a file truncated under its mapping (SIGBUS) is one error line and
        // exit 2; SIGTERM, SIGINT and SIGHUP remove temporary outputs and exit 128 + signal.
        ProcessFaults.install(messagePrefix: "losscli: error: ")
        if let message = nonUTF8Argument() {
            reportError(message)
            Glibc.exit(ExitStatus.inputError.rawValue)
        }
        var status = execute(arguments: Array(CommandLine.arguments.dropFirst()))
        // Output that never reached stdout (a full disk, `> /dev/full`) must not look like
        // success: `eval > golden.json` would leave an empty golden behind exit 0.
        errno = 0
        if fflush(stdout) != 0 || ferror(stdout) != 0 {
            let reason = errno == 0 ? "write error" : String(cString: strerror(errno))
            reportError("cannot write the output to stdout: \(reason)")
            status = ExitStatus.inputError.rawValue
        }
        Glibc.exit(status)
    }

    static func execute(arguments: [String]) -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            return ExitStatus.success.rawValue
        } catch let e as CLIExit {
            if let message = e.message { reportError(message) }
            return e.status.rawValue
        } catch let e as ExitCode {
            return e.rawValue
        } catch {
            guard let line = errorLine(for: error) else {
                // --help, --version: the text goes to stdout.
                print(fullMessage(for: error))
                return ExitStatus.success.rawValue
            }
            reportError(line)
            return ExitStatus.inputError.rawValue
        }
    }

    /// Any error other than `CLIExit` and `ExitCode` (ArgumentParser's, NpyError, CLIError,
    /// LossError, WeightError...) ends with exit 2 and this line on stderr; nil for the
    /// requests whose text is printed to stdout with exit 0 (--help, --version).
    static func errorLine(for error: Error) -> String? {
        exitCode(for: error) == .success ? nil : errorMessage(error)
    }

    /// Swift decodes the command line as UTF-8 and replaces invalid bytes, so a file whose
    /// name is not UTF-8 would be reported as missing although it exists. Say so instead.
    static func nonUTF8Argument() -> String? {
        for index in 1..<Int(CommandLine.argc) {
            guard let raw = CommandLine.unsafeArgv[index], String(validatingCString: raw) == nil else { continue }
            let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(raw).assumingMemoryBound(to: UInt8.self), count: strlen(raw))
            let shown = bytes.map { $0 >= 0x20 && $0 < 0x7f ? String(UnicodeScalar($0)) : String(format: "\\x%02x", $0) }.joined()
            return "argument \(index) \"\(shown)\" is not valid UTF-8; losscli reads paths and names as UTF-8 text"
        }
        return nil
    }

    /// The message for an error, as one line.
    static func errorMessage(_ error: Error) -> String {
        // ArgumentParser's message(for:) covers its own errors and falls back to the
        // error's description for ours (NpyError, CLIError, LossError...).
        let text = message(for: error)
        var line = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: " ")
        if line.hasPrefix("Error: ") { line.removeFirst("Error: ".count) }
        return line.isEmpty ? "unknown error" : line
    }

    static func reportError(_ message: String) {
        var line = "losscli: error: " + ErrorText.shortened(JSONValue.escapingControls(message)) + "\n"
        line.withUTF8 { _ = fwrite($0.baseAddress, 1, $0.count, stderr) }
        fflush(stderr)
    }
}

/// The contract's exit codes.
enum ExitStatus: Int32 {
    /// Done; for `check`, everything matched.
    case success = 0
    /// `check` found a mismatch.
    case mismatch = 1
    /// Usage, config or input error: nothing was computed.
    case inputError = 2
    /// Computed, but a reported value is NaN or infinite.
    case nonFinite = 3
}

/// Thrown by a command to end with a given status after its output is written,
/// optionally with an error line (`CLIExit(code: 3)`).
struct CLIExit: Error {
    var status: ExitStatus
    var message: String?
    init(_ status: ExitStatus, message: String? = nil) {
        self.status = status
        self.message = message
    }
    init(code: Int32, message: String? = nil) {
        self.init(ExitStatus(rawValue: code) ?? .inputError, message: message)
    }
}

/// A usage or input problem found by a command itself: exit 2 with `message`.
struct CLIError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Error lines quote what the user gave (names, paths, numbers); a 65 KB name or a
/// 100,000-digit number is cut, so the line stays a line.
enum ErrorText {
    /// Quoted text ("...") or a run without spaces longer than `limit` characters keeps its
    /// first `keep` characters, then an ellipsis and its length: `"aaaa…" (65536 characters)`.
    static func shortened(_ text: String, limit: Int = 200, keep: Int = 60) -> String {
        let chars = Array(text)
        guard chars.count > limit else { return text }
        var out = ""
        var i = 0
        while i < chars.count {
            if chars[i] == "\"", let close = chars[(i + 1)...].firstIndex(of: "\"") {
                let inner = close - i - 1
                if inner > limit {
                    out += "\"" + String(chars[(i + 1)..<(i + 1 + keep)]) + "…\" (\(inner) characters)"
                } else {
                    out += String(chars[i...close])
                }
                i = close + 1
                continue
            }
            var j = i
            while j < chars.count, !chars[j].isWhitespace, chars[j] != "\"" { j += 1 }
            if j == i {
                out.append(chars[i])
                i += 1
                continue
            }
            out += j - i > limit ? String(chars[i..<(i + keep)]) + "…(\(j - i) characters)" : String(chars[i..<j])
            i = j
        }
        return out
    }
}
