import Foundation

/// How a path written in a config file is read: relative to the config file's folder (the
/// config's `inputs`, a loss's weight files), as given for the command line and JSON text.
enum ConfigPath {
    /// The folder relative paths in the config `argument` of `--config` are read against:
    /// the config file's folder, or nil for JSON text given on the command line.
    static func directory(ofConfigFile path: String) -> String {
        URL(fileURLWithPath: path).deletingLastPathComponent().path
    }

    /// `path` itself when absolute or when there is no folder (the command line), else `path`
    /// inside `base`.
    static func resolve(_ path: String, against base: String?) -> String {
        guard let base, !path.hasPrefix("/") else { return path }
        return URL(fileURLWithPath: base).appendingPathComponent(path).path
    }
}

/// Where the array of one named input is stored: a `.npy` file or one member of a `.npz`.
enum ArrayLocation: Equatable, CustomStringConvertible {
    case npy(path: String)
    case npzMember(path: String, key: String)

    /// Parses `file.npy` or `bundle.npz:KEY`. A relative path is resolved against `baseDirectory`
    /// (the config file's folder for the config's `inputs`, nil for the command line).
    ///
    /// The `:KEY` suffix is recognised only after a name ending in `.npz`, so paths with colons
    /// (`C:\x.npy`, `a:b.npy`) still name `.npy` files.
    static func parse(_ text: String, baseDirectory: String?, context: String) throws -> ArrayLocation {
        guard !text.isEmpty else { throw CLIError("\(context): expected a path (file.npy or bundle.npz:KEY), found an empty string") }
        if let colon = text.lastIndex(of: ":") {
            let file = String(text[..<colon])
            let key = String(text[text.index(after: colon)...])
            if file.lowercased().hasSuffix(".npz") {
                guard !key.isEmpty else {
                    throw CLIError("\(context): \"\(text)\" names no member: expected bundle.npz:KEY")
                }
                return .npzMember(path: ConfigPath.resolve(file, against: baseDirectory), key: key)
            }
        }
        if text.lowercased().hasSuffix(".npz") {
            throw CLIError("\(context): \"\(text)\" is an .npz archive: name one of its arrays as \(text):KEY, or give the whole archive with --inputs")
        }
        return .npy(path: ConfigPath.resolve(text, against: baseDirectory))
    }

    var path: String {
        switch self {
        case let .npy(path), let .npzMember(path, _): return path
        }
    }

    var description: String {
        switch self {
        case let .npy(path): return path
        case let .npzMember(path, key): return "\(path):\(key)"
        }
    }
}

/// One named input and where it came from (`--input`, `--pred`, `--inputs a.npz`, the config).
struct InputBinding: Equatable {
    var name: String
    var location: ArrayLocation
    var origin: String

    /// Parses `NAME=PATH` as given to `--input`.
    static func parse(assignment text: String) throws -> InputBinding {
        guard let eq = text.firstIndex(of: "=") else {
            throw CLIError("--input \"\(text)\": expected NAME=PATH (for example pred=pred.npy or pred=bundle.npz:pred)")
        }
        let name = String(text[..<eq])
        let value = String(text[text.index(after: eq)...])
        try validateName(name, context: "--input \"\(text)\"")
        let location = try ArrayLocation.parse(value, baseDirectory: nil, context: "--input \(name)")
        return InputBinding(name: name, location: location, origin: "--input")
    }

    /// Input names are what a config's `data_info` and the `.npz` keys use: letters, digits,
    /// `_`, `-`, `.` and `/`, and not empty.
    static func validateName(_ name: String, context: String) throws {
        guard !name.isEmpty else { throw CLIError("\(context): the input name before '=' is empty") }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "_-./"))
        guard name.unicodeScalars.allSatisfy({ allowed.contains($0) }) else {
            throw CLIError("\(context): input name \"\(name)\" may contain only letters, digits, '_', '-', '.' and '/'")
        }
    }
}

/// How strongly a source binds a name: a later layer overrides an earlier one, and a name
/// given twice within one layer is ambiguous (`--input pred=...` together with `--pred ...`).
enum InputLayer: Int, Comparable {
    /// The config's `"inputs"`.
    case config
    /// `--inputs bundle.npz`, every member.
    case bundle
    /// `--input NAME=...` and the shorthands `--pred`, `--target`, `--weight`, `--mask`.
    case explicit

    static func < (a: InputLayer, b: InputLayer) -> Bool { a.rawValue < b.rawValue }
}

/// The named inputs of a run, combined from every source by precedence: the command line wins
/// over the config, and a named `--input` wins over a member of an `--inputs` archive.
struct InputPlan {
    /// Bindings in first-seen order.
    private(set) var bindings: [(binding: InputBinding, layer: InputLayer)] = []
    /// Position in `bindings` by name: adding is O(1), so 70,000 archive members are linear.
    private var position: [String: Int] = [:]

    mutating func add(_ binding: InputBinding, layer: InputLayer) throws {
        guard let i = position[binding.name] else {
            position[binding.name] = bindings.count
            bindings.append((binding, layer))
            return
        }
        let existing = bindings[i]
        if layer == existing.layer {
            throw CLIError("input \"\(binding.name)\" is given twice: by \(existing.binding.origin) (\(existing.binding.location)) and by \(binding.origin) (\(binding.location))")
        }
        if layer > existing.layer { bindings[i] = (binding, layer) }
    }

    var names: [String] { bindings.map(\.binding.name) }

    subscript(name: String) -> InputBinding? { position[name].map { bindings[$0].binding } }
}
