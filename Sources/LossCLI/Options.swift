import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// How a command prints its result.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json

    /// The format to use: the one asked for, else a table on a terminal and JSON when
    /// stdout is a pipe or a file (pipelines get JSON without asking).
    static func resolve(_ requested: OutputFormat?) -> OutputFormat {
        requested ?? (isatty(STDOUT_FILENO) != 0 ? .table : .json)
    }
}

/// The `--format` option, shared by every command that prints results.
struct FormatOptions: ParsableArguments {
    @Option(help: "Output format: table or json (default: table on a terminal, json when piped).")
    var format: OutputFormat?

    var resolved: OutputFormat { OutputFormat.resolve(format) }
}
