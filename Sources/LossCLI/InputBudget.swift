import Foundation
import LossKit
import NpyIO

/// Refuses an evaluation that cannot fit in the memory this process may use, before any
/// input is converted: a well-formed but huge file (an 8 GB uint8 array becomes 34 GB of
/// float32) must give an error line, not a failed allocation that kills the process.
///
/// The memory is `MemoryBudget`: the tightest of physical memory, the address-space limit
/// (`ulimit -v`) and the cgroup limit, less what the process already uses (so the mapped
/// input files count). Three rules, each with its own message:
/// 1. every input in the computation's dtype with one gradient of its size must fit;
/// 2. all inputs so, together;
/// 3. the evaluation's estimate must fit: inputs converted to the computation dtype (not
///    those read in place from their file), every gradient array it will return (the total's
///    and each term's, for the inputs each reads), and the terms' intermediates, counted
///    roughly as two arrays the size of each term's largest input (and, with `--grad-out`,
///    the copy of every gradient that is written).
/// It is an estimate, not a promise; should an allocation still fail, the engine ends the
/// process with one error line and exit 2 rather than trapping.
enum InputBudget {
    static func check(_ arrays: [LoadedArray], dtype: DType, budget: MemoryBudget,
                      borrowed: Set<String> = [], terms: [(name: String, inputs: [String])] = [],
                      gradients: [(key: String, inputs: [String])] = [], writesGradients: Bool = false) throws {
        let available = budget.available
        let itemSize: UInt64 = dtype == .float64 ? 8 : 4
        var bytesOf: [String: UInt64] = [:]
        var total: UInt64 = 0
        for loaded in arrays {
            let (bytes, overflow) = UInt64(loaded.array.count).multipliedReportingOverflow(by: 2 * itemSize)
            if overflow || bytes > available {
                throw CLIError("input \"\(loaded.binding.name)\" (\(loaded.binding.location)): \(loaded.array.count) elements "
                    + "need \(MemoryBudget.text(overflow ? .max : bytes)) as \(dtype) with a gradient; more than may be allocated (\(budget))")
            }
            bytesOf[loaded.binding.name] = bytes / 2
            total += bytes
        }
        if total > available {
            throw CLIError("inputs: \(arrays.map(\.binding.name).joined(separator: ", ")) together need \(MemoryBudget.text(total)) "
                + "as \(dtype) with their gradients; more than may be allocated (\(budget))")
        }
        // Rule 3; every term below fits in UInt64 (each is at most `available`, times the counts).
        var converted: UInt64 = 0
        for loaded in arrays where !borrowed.contains(loaded.binding.name) { converted += bytesOf[loaded.binding.name] ?? 0 }
        var gradientBytes: UInt64 = 0
        for entry in gradients { for input in entry.inputs { gradientBytes &+= bytesOf[input] ?? 0 } }
        var intermediates: UInt64 = 0
        for term in terms { intermediates &+= 2 * (term.inputs.compactMap { bytesOf[$0] }.max() ?? 0) }
        // `--grad-out` copies each gradient into the array it writes.
        let outputs = writesGradients ? gradientBytes : 0
        let need = converted &+ gradientBytes &+ intermediates &+ outputs
        if need > available {
            throw CLIError("evaluating needs an estimated \(MemoryBudget.text(need)) (inputs as \(dtype) \(MemoryBudget.text(converted)), "
                + "gradients \(MemoryBudget.text(gradientBytes)), intermediates \(MemoryBudget.text(intermediates))"
                + (writesGradients ? ", --grad-out copies \(MemoryBudget.text(outputs))" : "") + "); "
                + "more than may be allocated (\(budget))")
        }
    }
}
