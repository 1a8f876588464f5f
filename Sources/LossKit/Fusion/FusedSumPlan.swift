import Foundation

/// Fused sums planned ahead: the forward passes of several losses that read the same inputs
/// (pred, target, weight) as one pass instead of one per loss.
///
/// `LossProgram.evaluate` runs the forward of every term whose type says its forward is fused
/// sums plus small arithmetic (`LossModule.forwardIsFusedSums`) once in *recording* mode,
/// without a graph: each `fusedSum` only notes its program and inputs and returns zeros. The
/// noted sums are then computed together, one multi-output program per iteration shape and
/// dtype (`fusedSumsKernel`, common subexpressions shared), and the real forward pass is served
/// from them: a `fusedSum` whose program, inputs (by identity) and kept axes match takes the
/// planned value, anything else is computed as usual. The plan holds its inputs, so an
/// identity cannot be reused by another tensor while it lives. Values equal the unplanned
/// path's up to the order of float64 additions (a total is cut per sample when a per-sample
/// sum shares its pass); `CoreBatchedBackwardTests` compares the two.
final class FusedSumPlan {
    private struct Entry {
        let program: FusedProgram
        let inputs: [Tensor]
        let shape: [Int]
        let keep: Int
        var value: Tensor?
    }
    private var entries: [Entry] = []
    /// Whether `fusedSum` notes requests (the first run) rather than serving planned values.
    private(set) var recording = false

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    /// The plan in effect on this thread.
    static var current: FusedSumPlan? {
        pthread_getspecific(key).map { Unmanaged<FusedSumPlan>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Runs `body` in recording mode, then computes the noted sums (`compute`).
    func record(_ body: () throws -> Void) rethrows {
        recording = true
        defer { compute() }
        try apply(body)
    }

    /// Runs `body` with this plan in effect on this thread.
    func apply<R>(_ body: () throws -> R) rethrows -> R {
        let saved = pthread_getspecific(Self.key)
        pthread_setspecific(Self.key, Unmanaged.passUnretained(self).toOpaque())
        defer { pthread_setspecific(Self.key, saved) }
        return try withExtendedLifetime(self) { try body() }
    }

    private func index(_ program: FusedProgram, _ xs: [Tensor], _ keep: Int) -> Int? {
        entries.firstIndex {
            $0.keep == keep && $0.inputs.count == xs.count && zip($0.inputs, xs).allSatisfy { $0 === $1 }
                && $0.program.code == program.code && $0.program.outputs == program.outputs
        }
    }

    func request(_ program: FusedProgram, _ xs: [Tensor], _ shape: [Int], _ keep: Int) {
        if index(program, xs, keep) == nil { entries.append(Entry(program: program, inputs: xs, shape: shape, keep: keep, value: nil)) }
    }

    func value(_ program: FusedProgram, _ xs: [Tensor], _ keep: Int) -> Tensor? {
        guard !recording, let i = index(program, xs, keep), let v = entries[i].value else { return nil }
        served += 1
        return v
    }
    /// Sums served from the plan (tests check that planning takes effect).
    private(set) var served = 0

    /// Computes every noted sum (one pass per iteration shape and dtype) and switches to serving.
    private func compute() {
        recording = false
        var groups: [[Int]] = []
        for (i, e) in entries.enumerated() {
            if let g = groups.firstIndex(where: { entries[$0[0]].shape == e.shape && entries[$0[0]].inputs[0].dtype == e.inputs[0].dtype }) {
                groups[g].append(i)
            } else { groups.append([i]) }
        }
        for group in groups {
            let shape = entries[group[0]].shape, dtype = entries[group[0]].inputs[0].dtype
            // One split for the pass: the sums that keep leading axes must agree on how many.
            let keeps = Set(group.map { entries[$0].keep }.filter { $0 > 0 })
            let keep = keeps.count == 1 ? keeps.first! : 0
            let members = group.filter { entries[$0].keep == 0 || entries[$0].keep == keep }
            var union: [Tensor] = []
            func slot(_ t: Tensor) -> Int {
                if let u = union.firstIndex(where: { $0 === t }) { return u }
                union.append(t); return union.count - 1
            }
            let bound = members.map { entries[$0].inputs.map(slot) }
            let program = FusedProgram.build(inputCount: union.count) { xs in
                zip(members, bound).map { i, us in
                    entries[i].program.inline(into: xs[0].builder, inputs: us.map { xs[$0] })[0]
                }
            }.pruned()
            let units = shape[0..<keep].reduce(1, *)
            let outputs = zip(members, program.outputs).map { ($1, entries[$0].keep > 0) }
            let sums: [[Double]]
            switch dtype {
            case .float32: sums = fusedSumsKernel(program, union, shape, units: units, outputs: outputs, Float.self)
            case .float64: sums = fusedSumsKernel(program, union, shape, units: units, outputs: outputs, Double.self)
            }
            for (i, s) in zip(members, sums) {
                let k = entries[i].keep
                let t = Tensor(uninitializedShape: k == 0 ? [] : Array(shape[0..<k]) + Array(repeating: 1, count: shape.count - k), dtype: dtype)
                t.store(s)
                entries[i].value = t
            }
        }
    }
}

extension Tensor {
    /// Same dtype and bit-identical elements (shape aside).
    func sameBits(_ o: Tensor) -> Bool {
        guard dtype == o.dtype, count == o.count else { return false }
        return memcmp(storage.raw, o.storage.raw, count * dtype.byteSize) == 0
    }
}
