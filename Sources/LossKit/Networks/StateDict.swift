import Foundation

/// The named tensors of a pretrained network's weight file, as a network built in LossKit
/// takes them: `sd.unwrapped().scope("features").scope(0).tensor("weight", shape: [64, 3, 3, 3], dtype: .float32)`.
///
/// LossKit reads no files: a reader (TensorIO's `StateDict(weights:)`) gives each key its shape,
/// the file's dtype name and a loader. A tensor is converted the first time a dtype is asked
/// for and kept (`Entry`), so every network and loss term holding the same `StateDict` (the
/// CLI shares one per file) shares one conversion.
///
/// Keys are the file's, with nested dicts joined by dots (`state_dict.features.0.weight`).
/// `unwrapped()` and `scope(_:)` give views whose keys are shorter; messages still name the
/// key as it is in the file (`prefix` + key), so it can be found with `losscli inspect`.
public struct StateDict: Sendable {
    /// One tensor of the file: its shape and dtype, and its values converted on demand.
    public final class Entry: @unchecked Sendable {
        public let shape: [Int]
        /// The file's element type, for messages (`float32`, `float16`, `int64`, `bool`...).
        public let fileDType: String
        private let load: @Sendable (DType) throws -> Tensor
        private let lock = NSLock()
        private var converted: [DType: Tensor] = [:]

        /// `load` makes the tensor in a dtype; it is called at most once per dtype (the
        /// result is kept), and not again after it succeeded.
        public init(shape: [Int], fileDType: String, load: @escaping @Sendable (DType) throws -> Tensor) {
            self.shape = shape
            self.fileDType = fileDType
            self.load = load
        }

        /// The tensor in `dtype`, converted the first time and then shared. Safe to call from
        /// several threads: one converts, the others wait for its result. A failure is not
        /// kept (the next call tries again).
        public func tensor(_ dtype: DType) throws -> Tensor {
            lock.lock()
            defer { lock.unlock() }
            if let t = converted[dtype] { return t }
            let t = try load(dtype)
            converted[dtype] = t
            return t
        }

        /// Whether `tensor(dtype)` has already been made.
        public func isConverted(_ dtype: DType) -> Bool {
            lock.lock()
            defer { lock.unlock() }
            return converted[dtype] != nil
        }
    }

    /// The file the tensors come from, as messages name it (its path).
    public let source: String
    /// What the file's keys have in front of this view's keys (`state_dict.module.features.`);
    /// empty for the whole file.
    public let prefix: String
    /// This view's keys, in the file's order.
    public let keys: [String]
    private let entries: [String: Entry]

    /// The tensors of `source` in the file's order. Two tensors under one key (possible when
    /// nested dicts are flattened: `{"a.b": x, "a": {"b": y}}`) are an error.
    public init(source: String, entries list: [(key: String, entry: Entry)]) throws(WeightError) {
        var entries: [String: Entry] = [:]
        entries.reserveCapacity(list.count)
        for (key, entry) in list {
            guard entries.updateValue(entry, forKey: key) == nil else {
                throw WeightError.duplicateKey(source: source, key: key)
            }
        }
        self.init(source: source, prefix: "", keys: list.map(\.key), entries: entries)
    }

    private init(source: String, prefix: String, keys: [String], entries: [String: Entry]) {
        self.source = source
        self.prefix = prefix
        self.keys = keys
        self.entries = entries
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    /// The entry under `key` (relative to this view), or nil.
    public subscript(key: String) -> Entry? { entries[key] }

    /// `key` as the file names it.
    public func fileKey(_ key: String) -> String { prefix + key }

    // MARK: Views

    /// The tensors under `name.` with that part of their keys removed: `scope("features")`
    /// holds `0.weight` for the file's `features.0.weight`. Chains: `scope("features").scope(0)`.
    /// A name nothing is under gives an empty view (its `tensor` calls then name the full key).
    public func scope(_ name: String) -> StateDict {
        let head = name + "."
        var keys: [String] = []
        var entries: [String: Entry] = [:]
        for key in self.keys where key.hasPrefix(head) {
            let rest = String(key.dropFirst(head.count))
            keys.append(rest)
            entries[rest] = self.entries[key]
        }
        return StateDict(source: source, prefix: prefix + head, keys: keys, entries: entries)
    }

    /// `scope(String(index))`: a layer of an `nn.Sequential` (`features.0`).
    public func scope(_ index: Int) -> StateDict { scope(String(index)) }

    /// The wrappers `unwrapped()` strips, in the order it prefers them.
    public static let wrappers = ["state_dict", "model", "params"]

    /// The network's own state dict inside a checkpoint:
    /// 1. when some keys are under `state_dict.` (MMagic/mmengine checkpoints, beside `meta`,
    ///    `message_hub`, `optimizer`... whose tensors are not the network's), that scope;
    ///    otherwise, when every key is under `model.` or every key under `params.`, that scope;
    /// 2. then, when every key starts with `module.` (saved from DataParallel), without it.
    /// A file with none of these is returned as it is.
    public func unwrapped() -> StateDict {
        var sd = self
        if keys.contains(where: { $0.hasPrefix("state_dict.") }) {
            sd = scope("state_dict")
        } else if let wrapper = Self.wrappers.dropFirst().first(where: { w in
            !keys.isEmpty && keys.allSatisfy { $0.hasPrefix(w + ".") }
        }) {
            sd = scope(wrapper)
        }
        if !sd.isEmpty, sd.keys.allSatisfy({ $0.hasPrefix("module.") }) { sd = sd.scope("module") }
        return sd
    }

    // MARK: Tensors

    /// The tensor under `key` (relative to this view) in `dtype`, which must have `shape`.
    /// Integer and bool tensors convert to float values as well.
    public func tensor(_ key: String, shape: [Int], dtype: DType) throws(WeightError) -> Tensor {
        guard let entry = entries[key] else {
            throw WeightError.mismatch(source: source, problems: [.missing(key: fileKey(key), shape: shape)])
        }
        guard entry.shape == shape else {
            throw WeightError.mismatch(source: source, problems: [.shape(key: fileKey(key), inFile: entry.shape, needed: shape)])
        }
        do {
            return try entry.tensor(dtype)
        } catch let e as WeightError {
            throw e
        } catch {
            throw WeightError.unreadable(source: source, key: fileKey(key), message: "\(error)")
        }
    }

    /// PyTorch's `load_state_dict(strict=True)` check of this view against what a network
    /// holds: every expected key present (unless `optional`) with its shape, and no other key
    /// except those under `ignoringPrefixes` (VGG's `classifier.`, which PerceptualVGG drops).
    /// Reports every problem in one error: missing keys (the network's order), unexpected keys
    /// (the file's order), then wrong shapes, as PyTorch lists them.
    public func checkStrict(_ expected: [ExpectedWeight], ignoringPrefixes: [String] = []) throws(WeightError) {
        var missing: [WeightProblem] = []
        var shapes: [WeightProblem] = []
        var wanted = Set<String>()
        for w in expected {
            wanted.insert(w.key)
            if let entry = entries[w.key] {
                if entry.shape != w.shape { shapes.append(.shape(key: fileKey(w.key), inFile: entry.shape, needed: w.shape)) }
            } else if !w.optional {
                missing.append(.missing(key: fileKey(w.key), shape: w.shape))
            }
        }
        var unexpected: [WeightProblem] = []
        for key in keys where !wanted.contains(key) && !ignoringPrefixes.contains(where: { key.hasPrefix($0) }) {
            unexpected.append(.unexpected(key: fileKey(key), shape: entries[key]?.shape ?? []))
        }
        let problems = missing + unexpected + shapes
        if !problems.isEmpty { throw WeightError.mismatch(source: source, problems: problems) }
    }
}

/// A tensor a network holds, for `StateDict.checkStrict`: its key (relative to the view
/// checked) and shape. `optional` keys may be absent (BatchNorm's `num_batches_tracked`,
/// which files saved before PyTorch 0.4.1, such as torchvision's VGG `_bn`, lack).
public struct ExpectedWeight: Equatable, Sendable {
    public var key: String
    public var shape: [Int]
    public var optional: Bool

    public init(_ key: String, shape: [Int], optional: Bool = false) {
        self.key = key
        self.shape = shape
        self.optional = optional
    }
}

/// One way a weight file does not fit a network; keys as the file names them.
public enum WeightProblem: Equatable, Sendable, CustomStringConvertible {
    /// The network needs `key` with `shape`; the file has no such key.
    case missing(key: String, shape: [Int])
    /// The file has `key` (of `shape`); the network has no such tensor.
    case unexpected(key: String, shape: [Int])
    /// Both have `key`, with different shapes.
    case shape(key: String, inFile: [Int], needed: [Int])

    public var description: String {
        switch self {
        case let .missing(key, shape):
            return "\(key) is not in the file, the network needs it with shape \(formatShape(shape))"
        case let .unexpected(key, shape):
            return "\(key) \(formatShape(shape)) is in the file but not in the network"
        case let .shape(key, inFile, needed):
            return "\(key) has shape \(formatShape(inFile)) in the file, the network needs \(formatShape(needed))"
        }
    }
}

/// Why a weight file cannot give a network its tensors. Each case names the file (`source`)
/// and the key as the file has it; the CLI prints it as one `losscli: error:` line, exit 2.
public enum WeightError: Error, Equatable, CustomStringConvertible {
    /// Keys or shapes that do not fit the network (`tensor(_:shape:dtype:)`, `checkStrict`).
    case mismatch(source: String, problems: [WeightProblem])
    /// Two tensors under one key.
    case duplicateKey(source: String, key: String)
    /// The tensor's values could not be converted (memory, a damaged storage).
    case unreadable(source: String, key: String, message: String)

    /// Problems listed in full in one message; beyond them, a count.
    public static let listedProblems = 5

    public var description: String {
        switch self {
        case let .mismatch(source, problems):
            guard problems.count > 1 else {
                return "\(source): " + (problems.first?.description ?? "the weights do not fit the network")
            }
            let listed = problems.prefix(Self.listedProblems).map(\.description).joined(separator: "; ")
            let more = problems.count > Self.listedProblems ? "; and \(problems.count - Self.listedProblems) more" : ""
            return "\(source): \(problems.count) problems with the weights: \(listed)\(more)"
        case let .duplicateKey(source, key):
            return "\(source): two tensors are stored under the key \(key)"
        case let .unreadable(source, key, message):
            return "\(source): \(key): \(message)"
        }
    }
}

/// How a loss gets the weights its `.weights` parameter names. LossKit reads no files: the CLI
/// gives a provider that resolves the value (a path relative to the config, or MMagic's
/// default name) and reads the file once per process; tests give tensors made in memory.
public struct WeightProvider: Sendable {
    /// `parameter` is the config path of the parameter (`losses.perceptual.pretrained`), for messages.
    public let load: @Sendable (_ parameter: String, _ value: String) throws -> StateDict

    public init(_ load: @escaping @Sendable (_ parameter: String, _ value: String) throws -> StateDict) {
        self.load = load
    }

    public func load(parameter: String, value: String) throws -> StateDict { try load(parameter, value) }
}
