/// An error in a loss configuration or in the tensors given to a loss; never a trap.
///
/// Each case names where it happened (config key path, term, loss type, argument) so that the
/// CLI can print it as one line, e.g.
/// `term "pixel_loss" (L1Loss): pred (1,3,64,64) and target (1,3,32,32) have different shapes`.
public enum LossError: Error, CustomStringConvertible, Equatable {
    /// The config is not valid JSON.
    case syntax(ConfigSyntaxError)
    /// A config value is wrong. `path` is the key path, e.g. `losses.pixel_loss.reduction`.
    case config(path: String, message: String)
    /// A forward argument is wrong (shape, rank, missing optional that this mode needs).
    /// Thrown by the losses themselves; `LossProgram` adds the term with `.inTerm`.
    case invalidInput(argument: String, message: String)
    /// A tensor input that a term needs was not given.
    case missingInput(input: String, term: String, type: String, argument: String)
    /// Any other error, inside a named term.
    indirect case inTerm(term: String, type: String, underlying: LossError)
    /// An error from the tensor engine, with its text.
    case tensor(String)

    public var description: String {
        switch self {
        case let .syntax(e): return e.description
        case let .config(path, message): return path.isEmpty ? message : "\(path): \(message)"
        case let .invalidInput(argument, message):
            // "pred (1,3,4,4) and target ..." already names the argument.
            return message.hasPrefix(argument + " ") ? message : "\(argument): \(message)"
        case let .missingInput(input, term, type, argument):
            let via = input == argument ? "" : " (its argument \(argument))"
            return "term \"\(term)\" (\(type)) needs input \"\(input)\"\(via), which was not given"
        case let .inTerm(term, type, underlying): return "term \"\(term)\" (\(type)): \(underlying.description)"
        case let .tensor(text): return text
        }
    }
}
