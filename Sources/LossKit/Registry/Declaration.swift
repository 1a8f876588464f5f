/// What a constructor parameter accepts.
public enum ParameterKind: Equatable {
    /// A number (a JSON integer is accepted, as Python accepts `1` for a float).
    case float
    /// A whole number.
    case int
    case bool
    case string
    /// One of a fixed set of strings (`reduction`, `gan_type`, `criterion`). With
    /// `caseInsensitive` the value is lowercased first, as MMagic does for `criterion`.
    case choice([String], caseInsensitive: Bool = false)
    /// A dict of string keys to numbers (PerceptualLoss's `layer_weights`); `null` too when the
    /// declared default is `null` (`layer_weights_style`).
    case floatMap
    /// Pretrained weights of the loss's fixed network: a path or one of MMagic's default
    /// names (`torchvision://vgg19`), which the program's `WeightProvider` turns into a
    /// `StateDict` (LossKit reads no files).
    case weights

    /// How `describe` names the kind.
    public var name: String {
        switch self {
        case .float: return "float"
        case .int: return "int"
        case .bool: return "bool"
        case .string: return "str"
        case let .choice(values, _): return values.joined(separator: "|")
        case .floatMap: return "dict"
        case .weights: return "weights"
        }
    }
}

/// One constructor parameter of a loss type: MMagic's name, kind, default and meaning.
public struct ParameterDeclaration: Equatable {
    public var name: String
    public var kind: ParameterKind
    /// nil: the parameter is required (GANLoss's `gan_type`).
    public var defaultValue: ConfigValue?
    public var doc: String

    public init(_ name: String, _ kind: ParameterKind, default defaultValue: ConfigValue?, doc: String) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.doc = doc
    }

    /// The accepted strings of a choice parameter (nil for other kinds), for `describe`.
    public var allowedValues: [String]? {
        if case let .choice(values, _) = kind { return values }
        return nil
    }

    /// `loss_weight` with the type's default.
    public static func lossWeight(_ value: Double = 1.0) -> ParameterDeclaration {
        .init("loss_weight", .float, default: .double(value), doc: "Multiplies the loss.")
    }
    /// `reduction` in none|mean|sum, default mean.
    public static let reduction = ParameterDeclaration(
        "reduction", .choice(Reduction.allCases.map(\.rawValue)), default: .string("mean"),
        doc: "How the element-wise loss is reduced.")
    /// `sample_wise`, default false.
    public static let sampleWise = ParameterDeclaration(
        "sample_wise", .bool, default: .bool(false),
        doc: "With a weight and mean reduction: normalise by each sample's weight, then average the samples.")
    /// `loss_name` with the type's default (the Comps types).
    public static func lossName(_ value: String) -> ParameterDeclaration {
        .init("loss_name", .string, default: .string(value),
              doc: "Name of the term; terms with the same name are summed, and only names containing 'loss' count in the total.")
    }
}

/// What a forward argument is.
public enum InputKind: Equatable {
    /// A tensor, bound to an input by name (or through `data_info`).
    case tensor
    /// A list of tensors (`maps`, `textures`); `data_info` maps it to a list of input names.
    case tensorList
    /// A non-tensor value from the term's `args`.
    case bool
    case float

    public var name: String {
        switch self {
        case .tensor: return "tensor"
        case .tensorList: return "list of tensors"
        case .bool: return "bool"
        case .float: return "float"
        }
    }

    public var isTensor: Bool { self == .tensor || self == .tensorList }
}

/// One argument of a loss's forward call.
public struct InputDeclaration: Equatable {
    public var name: String
    public var kind: InputKind
    /// An optional tensor may be absent (`weight`, `mask`); an optional non-tensor argument has a default.
    public var optional: Bool
    /// Default of an optional non-tensor argument (`is_disc`: false).
    public var defaultValue: ConfigValue?
    public var doc: String

    public static func tensor(_ name: String, optional: Bool = false, doc: String) -> InputDeclaration {
        .init(name: name, kind: .tensor, optional: optional, defaultValue: nil, doc: doc)
    }
    public static func tensorList(_ name: String, doc: String) -> InputDeclaration {
        .init(name: name, kind: .tensorList, optional: false, defaultValue: nil, doc: doc)
    }
    public static func bool(_ name: String, default value: Bool? = nil, doc: String) -> InputDeclaration {
        .init(name: name, kind: .bool, optional: value != nil, defaultValue: value.map { .bool($0) }, doc: doc)
    }
}

/// Everything the registry knows about one loss type. Config decoding, `losscli list` and
/// `losscli describe` all read this one declaration.
public struct LossTypeDeclaration: Equatable {
    /// MMagic's registered name (`L1Loss`), or `TVLoss` for MMagic's `tv_loss` function.
    public var name: String
    /// One sentence.
    public var summary: String
    /// The formula and MMagic's quirks, for `describe`.
    public var details: String
    public var parameters: [ParameterDeclaration]
    public var inputs: [InputDeclaration]
    /// Names of the parts of a multi-part loss (PerceptualLoss: perceptual, style); empty for one value.
    public var partNames: [String]

    public init(name: String, summary: String, details: String = "", parameters: [ParameterDeclaration],
                inputs: [InputDeclaration], partNames: [String] = []) {
        self.name = name
        self.summary = summary
        self.details = details
        self.parameters = parameters
        self.inputs = inputs
        self.partNames = partNames
    }

    /// Whether the type has MMagic's `loss_name` (then its terms are named by it).
    public var hasLossName: Bool { parameters.contains { $0.name == "loss_name" } }

    public func parameter(_ name: String) -> ParameterDeclaration? { parameters.first { $0.name == name } }
    public func input(_ name: String) -> InputDeclaration? { inputs.first { $0.name == name } }
}
