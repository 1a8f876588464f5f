import Foundation

/// Process-wide settings of the tensor engine.
public enum LossKitRuntime {
    /// Worker threads for large kernels (`--threads N`). Results never depend on it:
    /// work is cut into chunks by problem size alone and partial results are combined
    /// in chunk order, so any thread count gives bit-identical output.
    nonisolated(unsafe) public static var threads: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)
}

/// Runs `body(chunkIndex)` for `0..<chunks` on up to `LossKitRuntime.threads` threads.
///
/// Callers choose `chunks` from the problem size only (never from the thread count), and
/// write each chunk's result to its own slot, which keeps reductions deterministic.
@inlinable
public func parallelChunks(_ chunks: Int, _ body: (Int) -> Void) {
    let threads = min(LossKitRuntime.threads, chunks)
    if threads <= 1 {
        for c in 0..<chunks { body(c) }
        return
    }
    withoutActuallyEscaping(body) { body in
        // Each worker takes a contiguous run of chunks: cheap scheduling, no atomics.
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            let lo = chunks * t / threads
            let hi = chunks * (t + 1) / threads
            for c in lo..<hi { body(c) }
        }
    }
}

/// How many fixed-size chunks cover `count` elements (at least one when `count > 0`).
@inlinable
public func chunkCount(_ count: Int, chunkSize: Int) -> Int {
    count <= 0 ? 0 : (count + chunkSize - 1) / chunkSize
}
