import Foundation

/// Process-wide settings of the tensor engine.
public enum LossKitRuntime {
    /// Worker threads for large kernels (`--threads N`). Results never depend on it:
    /// work is cut into chunks by problem size alone and partial results are combined
    /// in chunk order, so any thread count gives bit-identical output.
    nonisolated(unsafe) public static var threads: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// The use from which a network layer keeps its transformed convolution filters
    /// (`WinogradFilterCache`; a use is one kernel call, which may cover the prediction and the
    /// target together). 1, the default, keeps them from the first evaluation on, so that in a
    /// loop of evaluations every one after the first is warm. 2 keeps them only for a layer used
    /// again, so that a single evaluation does not fill memory it never reads again (~280 MB of
    /// fresh pages for VGG19's two orientations): `losscli eval` without `--repeat`, and `check`.
    /// Results never depend on it (kept or not, the filters are the same bits).
    nonisolated(unsafe) public static var filterCacheKeepsFromUse: Int = 1
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

/// The engine's switchable fast paths, as one value scoped to the thread that runs an
/// evaluation (like `GradMode`): tests compare a fast path with its reference path by running
/// the same code under other options, and two evaluations on two threads can differ, without
/// a process-wide variable that one test could leave set for the next. Read on the thread
/// that starts a kernel or a backward sweep (never inside a kernel's worker threads).
struct EngineOptions: Equatable {
    /// `grad` runs the backward passes of fused nodes due together as one pass (else one per node).
    var batchFusedBackward = true
    /// Fused backward passes reduce broadcast inputs' gradients inside the pass (else full size, then `sumTo`).
    var fusedReduceInPass = true
    /// Fused outputs of at least this many bytes are written with non-temporal stores.
    var streamedOutputBytes = 4 << 20

    private final class Box {
        let options: EngineOptions
        init(_ options: EngineOptions) { self.options = options }
    }

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    /// The options in effect on this thread (the defaults outside `with`).
    static var current: EngineOptions {
        pthread_getspecific(key).map { Unmanaged<Box>.fromOpaque($0).takeUnretainedValue().options } ?? EngineOptions()
    }

    /// Runs `body` with `options` in effect on this thread.
    static func with<R>(_ options: EngineOptions, _ body: () throws -> R) rethrows -> R {
        let box = Box(options)
        let saved = pthread_getspecific(key)
        pthread_setspecific(key, Unmanaged.passUnretained(box).toOpaque())
        defer { pthread_setspecific(key, saved) }
        return try withExtendedLifetime(box) { try body() }
    }
}

/// Switches for benchmarks comparing kernel variants in one binary.
public enum LossKitTesting {
    /// Runs `body` with large fused outputs written with plain stores instead of non-temporal ones.
    public static func withoutStreamingStores<R>(_ body: () throws -> R) rethrows -> R {
        var options = EngineOptions.current
        options.streamedOutputBytes = .max
        return try EngineOptions.with(options, body)
    }
}
