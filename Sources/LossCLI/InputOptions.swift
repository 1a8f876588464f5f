import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import LossKit
import NpyIO

/// The config and the named input tensors, shared by `eval` and `check`.
struct InputOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The loss config: a JSON file, or the JSON text itself.", valueName: "CFG"))
    var config: String

    @Option(name: .customLong("input"), help: ArgumentHelp(
        "A named input: NAME=file.npy or NAME=bundle.npz:KEY (repeatable).", valueName: "NAME=PATH"))
    var input: [String] = []

    @Option(name: .customLong("inputs"), help: ArgumentHelp(
        "Every array of an .npz archive, each under its own key (repeatable).", valueName: "bundle.npz"))
    var inputs: [String] = []

    @Option(help: ArgumentHelp("Same as --input pred=PATH.", valueName: "PATH"))
    var pred: [String] = []

    @Option(help: ArgumentHelp("Same as --input target=PATH.", valueName: "PATH"))
    var target: [String] = []

    @Option(help: ArgumentHelp("Same as --input weight=PATH.", valueName: "PATH"))
    var weight: [String] = []

    @Option(help: ArgumentHelp("Same as --input mask=PATH.", valueName: "PATH"))
    var mask: [String] = []

    /// The command-line bindings, in the order given (syntax checked, files not opened).
    func commandLineBindings() throws -> (explicit: [InputBinding], bundles: [String]) {
        var explicit = try input.map { try InputBinding.parse(assignment: $0) }
        for (name, values) in [("pred", pred), ("target", target), ("weight", weight), ("mask", mask)] {
            // ArgumentParser would keep the last of `--pred a --pred b` silently.
            if values.count > 1 {
                throw CLIError("--\(name) is given \(values.count) times (\(values.joined(separator: ", "))); give it once")
            }
            guard let value = values.first else { continue }
            let location = try ArrayLocation.parse(value, baseDirectory: nil, context: "--\(name)")
            explicit.append(InputBinding(name: name, location: location, origin: "--\(name)"))
        }
        for path in inputs where !path.lowercased().hasSuffix(".npz") {
            throw CLIError("--inputs \"\(path)\": expected an .npz archive (for a single .npy use --input NAME=\(path))")
        }
        return (explicit, inputs)
    }

    func validate() throws {
        do {
            _ = try commandLineBindings()
        } catch let error as CLIError {
            throw ValidationError(error.message)
        }
    }
}

/// A config as read from a file or from the command line, with its `inputs` taken apart.
struct LoadedConfig {
    /// The config without its top-level `"inputs"` (what `LossProgram` builds terms from).
    var losses: ConfigValue
    /// The config's own inputs, paths resolved against the config file's folder.
    var inputs: [InputBinding]
    /// How errors name the config: its path, or `--config` for JSON text.
    var source: String
    /// The folder the config's relative paths are read against (`ConfigPath.resolve`): the
    /// config file's folder, nil for JSON text.
    var directory: String?

    /// Reads `--config`: JSON text when it starts with `{` (or `[`, to report that a list is
    /// not a config), otherwise a path.
    static func load(_ argument: String) throws -> LoadedConfig {
        let trimmed = argument.drop { $0.isWhitespace }
        let text: String
        let source: String
        let base: String?
        if trimmed.first == "{" || trimmed.first == "[" {
            text = argument
            source = "--config (JSON text)"
            base = nil
        } else {
            source = argument
            base = ConfigPath.directory(ofConfigFile: argument)
            text = try readText(argument, what: "config")
        }
        let value: ConfigValue
        do {
            value = try ConfigValue.parse(jsonText: text)
        } catch let error as ConfigSyntaxError {
            throw CLIError("config \(source): \(error.description)")
        }
        guard case let .object(members) = value else {
            throw CLIError("config \(source): expected a JSON object (a loss dict or {\"losses\": ...}), found \(value.kindName)")
        }
        var inputs: [InputBinding] = []
        if let spec = value["inputs"] {
            guard case let .object(entries) = spec else {
                throw CLIError("config \(source): key \"inputs\": expected an object {\"NAME\": \"PATH\"}, found \(spec.kindName)")
            }
            for (name, pathValue) in entries {
                let context = "config \(source): key \"inputs.\(name)\""
                try InputBinding.validateName(name, context: context)
                guard case let .string(path) = pathValue else {
                    throw CLIError("\(context): expected a path string, found \(pathValue.kindName)")
                }
                let location = try ArrayLocation.parse(path, baseDirectory: base, context: context)
                inputs.append(InputBinding(name: name, location: location, origin: "config \(source)"))
            }
        }
        let losses = ConfigValue.object(members.filter { $0.key != "inputs" })
        return LoadedConfig(losses: losses, inputs: inputs, source: source, directory: base)
    }
}

/// The largest config or golden JSON read (a config is a few kilobytes; this only stops a
/// wrong path such as a dataset or /dev/zero from being read into memory).
let maxTextFileBytes = 64 << 20

/// Reads a whole text file, with an error that names it. Only regular files are read
/// (symbolic links are followed to their target).
func readText(_ path: String, what: String) throws -> String {
    try requireFile(path, context: "\(what) ")
    let bytes: [UInt8]
    do {
        bytes = try RegularFile.read(path, maxBytes: maxTextFileBytes)
    } catch {
        throw CLIError("\(what) \(error.description)")
    }
    guard let text = String(validating: bytes, as: UTF8.self) else {
        throw CLIError("\(what) \(path): is not UTF-8 text")
    }
    return text
}

/// One input array as read from disk, before conversion to the computation's dtype.
struct LoadedArray {
    var binding: InputBinding
    var array: NpyArray
    var isFloat: Bool { array.dtype.isFloatingPoint }
}

extension InputOptions {
    /// Reads the config and every input array it and the command line name. Opens each
    /// `.npz` once. Errors name the file, member and input.
    func load() throws -> (config: LoadedConfig, arrays: [LoadedArray]) {
        let (explicit, bundles) = try commandLineBindings()
        let config = try LoadedConfig.load(self.config)
        var plan = InputPlan()
        for binding in config.inputs { try plan.add(binding, layer: .config) }

        var archives: [String: NpzArchive] = [:]
        func archive(_ path: String, context: String) throws -> NpzArchive {
            if let a = archives[path] { return a }
            try requireFile(path, context: context)
            do {
                let a = try NpzArchive.read(contentsOf: URL(fileURLWithPath: path))
                archives[path] = a
                return a
            } catch let error as NpyError {
                // NpyError names the file (and member) itself.
                throw CLIError("\(context)\(error.description)")
            }
        }
        for path in bundles {
            for key in try archive(path, context: "--inputs ").names {
                try plan.add(InputBinding(name: key, location: .npzMember(path: path, key: key), origin: "--inputs \(path)"),
                             layer: .bundle)
            }
        }
        for binding in explicit { try plan.add(binding, layer: .explicit) }

        var arrays: [LoadedArray] = []
        for binding in plan.bindings.map(\.binding) {
            let array: NpyArray
            switch binding.location {
            case let .npy(path):
                try requireFile(path, context: "input \"\(binding.name)\" (\(binding.origin)): ")
                do {
                    array = try Npy.read(contentsOf: URL(fileURLWithPath: path))
                } catch let error as NpyError {
                    throw CLIError("input \"\(binding.name)\" (\(binding.origin)): \(error.description)")
                }
            case let .npzMember(path, key):
                let a = try archive(path, context: "input \"\(binding.name)\" (\(binding.origin)): ")
                guard a.contains(key) else {
                    throw CLIError("input \"\(binding.name)\" (\(binding.origin)): \(path) has no array \"\(key)\" (it has: \(a.names.joined(separator: ", ")))")
                }
                do {
                    array = try a.array(named: key)
                } catch let error as NpyError {
                    throw CLIError("input \"\(binding.name)\" (\(binding.origin)): \(error.description)")
                }
            }
            arrays.append(LoadedArray(binding: binding, array: array))
        }
        return (config, arrays)
    }
}

/// An error naming a missing input file before the reader sees it. Symbolic links are
/// followed (git-annex, DVC, Bazel and Nix hand users links) and the target is checked: it
/// must be a regular file, not a directory, device, pipe or /proc file.
func requireFile(_ path: String, context: String = "") throws {
    var info = stat()
    guard stat(path, &info) == 0 else {
        let code = errno
        var link = stat()
        if code == ENOENT, lstat(path, &link) == 0 {
            throw CLIError("\(context)\(path): is a symbolic link to a missing file")
        }
        throw CLIError("\(context)\(path): \(code == ENOENT ? "no such file" : String(cString: strerror(code)))")
    }
    do {
        try RegularFile.check(path)
    } catch {
        throw CLIError("\(context)\(error.description)")
    }
}
