import Foundation
import LossKit

/// Refuses inputs that cannot be computed on this machine, before they are converted:
/// a well-formed but huge file (an 8 GB uint8 array becomes 34 GB of float32) must give
/// an error line, not a failed allocation that kills the process.
///
/// The rule: every input in the computation's dtype, plus a gradient of the same size,
/// must fit in physical memory. It is a floor, not a promise — the losses' intermediates
/// need more — but it separates "too big for this machine" from "a slow run" with one
/// number a user can check.
enum InputBudget {
    static func check(_ arrays: [LoadedArray], dtype: DType,
                      physicalMemory: UInt64 = ProcessInfo.processInfo.physicalMemory) throws {
        let itemSize: UInt64 = dtype == .float64 ? 8 : 4
        var total: UInt64 = 0
        for loaded in arrays {
            let (bytes, overflow) = UInt64(loaded.array.count).multipliedReportingOverflow(by: 2 * itemSize)
            if overflow || bytes > physicalMemory {
                throw CLIError("input \"\(loaded.binding.name)\" (\(loaded.binding.location)): \(loaded.array.count) elements "
                    + "need \(gigabytes(overflow ? .max : bytes)) as \(dtype) with a gradient; this machine has \(gigabytes(physicalMemory)) of memory")
            }
            total += bytes
        }
        if total > physicalMemory {
            throw CLIError("inputs: \(arrays.map(\.binding.name).joined(separator: ", ")) together need \(gigabytes(total)) "
                + "as \(dtype) with their gradients; this machine has \(gigabytes(physicalMemory)) of memory")
        }
    }

    static func gigabytes(_ bytes: UInt64) -> String {
        String(format: "%.1f GB", Double(bytes) / 1e9)
    }
}
