// libFuzzer over the config parser (`make fuzz-config`).
//
// Compiled with Sources/LossKit/**/*.swift (and CFault) into one module. Each input is
// taken as the text `--config` receives: parsed as JSON (duplicate keys, numbers beyond
// float64, escapes, nesting), built into a program (types, parameters and MMagic's
// validation, args, data_info, loss_name), planned (output keys), and evaluated on small
// fixed tensors so that any parameter value a config can reach runs through the losses.
// An error is fine; a crash, trap or sanitizer report is a bug.

private let image: Tensor = try! Tensor(shape: [1, 1, 4, 4], float32: (0..<16).map { Float($0) / 16 - 0.3 })
private let other: Tensor = try! Tensor(shape: [1, 1, 4, 4], float32: (0..<16).map { Float(($0 * 7) % 16) / 16 })
private let ones: Tensor = try! Tensor(shape: [1, 1, 4, 4], float32: [Float](repeating: 1, count: 16))

@_cdecl("LLVMFuzzerTestOneInput")
public func configFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard let text = String(validating: bytes, as: UTF8.self) else { return 0 }
    guard let program = try? LossProgram(jsonText: text) else { return 0 }
    var inputs: [String: Tensor] = ["pred": image, "target": other, "weight": ones, "mask": ones,
                                    "input": image, "x": image, "disc_pred_real": image, "disc_pred_fake": other]
    // Whatever the config names through data_info or list arguments, give it a tensor.
    for term in program.terms {
        for (_, input) in term.tensorBindings where inputs[input] == nil { inputs[input] = image }
        for (argument, names) in term.listBindings {
            for name in names ?? ["\(argument).0", "\(argument).1"] where inputs[name] == nil { inputs[name] = other }
        }
    }
    if inputs.count > 64 { return 0 }
    let options = EvaluationOptions()
    guard let plan = try? program.plannedOutputs(available: Set(inputs.keys), options: options) else { return 0 }
    if let e = try? program.evaluate(inputs: inputs, options: options) {
        if e.terms.map(\.name) != plan.terms.map(\.name) || e.gradientOrder.map(\.key) != plan.gradients.map(\.key) {
            fatalError("the planned outputs differ from the evaluation's")
        }
    }
    return 0
}
