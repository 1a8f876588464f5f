import Foundation


extension Tensor {
    /// Shape of a fused op: the inputs' broadcast shape (NumPy rules).
    static func fusedShape(_ inputs: [Tensor], op: String) throws -> [Int] {
        guard !inputs.isEmpty else { throw TensorError.invalidArgument(op: op, message: "no inputs") }
        return try broadcastShapes(inputs.map(\.shape), op: op)
    }

    /// `expression` applied elementwise to `inputs` in a single pass, with NumPy broadcasting
    /// (broadcast inputs are gathered per block, never expanded in memory). Differentiable to
    /// any order; the gradient is fused too.
    ///
    ///     let y = try Tensor.fusedMap([pred, target]) { x in ((x[0] - x[1]).square() + 1e-12).sqrt() }
    public static func fusedMap(_ inputs: [Tensor], _ expression: ([Fused]) -> Fused) throws -> Tensor {
        let program = FusedProgram.build(inputCount: inputs.count) { [expression($0)] }.pruned()
        let shape = try fusedShape(inputs, op: "fusedMap")
        return fusedApply(program, promoteAll(inputs), shape)
    }

    /// Σ of `expression` over all elements, without materialising the elementwise values
    /// (float64 accumulation, fixed blocks: deterministic). A scalar; differentiable.
    public static func fusedSum(_ inputs: [Tensor], _ expression: ([Fused]) -> Fused) throws -> Tensor {
        try fusedSum(inputs, keepingLeading: 0, expression)
    }

    /// Σ of `expression` over every axis from `keepingLeading` on, those axes kept with size 1:
    /// with 1, one sum per sample, shape (N,1,...,1) (MMagic's sample-wise mean divides by a
    /// per-sample weight sum). 0 is ``fusedSum(_:_:)``, a scalar. Float64 accumulation in
    /// fixed chunks (deterministic); differentiable like `fusedSum`.
    public static func fusedSum(_ inputs: [Tensor], keepingLeading k: Int, _ expression: ([Fused]) -> Fused) throws -> Tensor {
        let program = FusedProgram.build(inputCount: inputs.count) { [expression($0)] }.pruned()
        let shape = try fusedShape(inputs, op: "fusedSum")
        guard (0...shape.count).contains(k) else {
            throw TensorError.invalidArgument(op: "fusedSum", message: "keepingLeading \(k) outside 0...\(shape.count) for shape \(formatShape(shape))")
        }
        let xs = promoteAll(inputs)
        let outShape = k == 0 ? [] : Array(shape[0..<k]) + Array(repeating: 1, count: shape.count - k)
        let y: Tensor
        if let planned = FusedSumPlan.current?.value(program, xs, k) {
            y = planned
        } else if let plan = FusedSumPlan.current, plan.recording {
            plan.request(program, xs, shape, k)
            y = Tensor.filled(outShape, 0, xs[0].dtype)
        } else {
            y = Tensor(uninitializedShape: outShape, dtype: xs[0].dtype)
            let units = shape[0..<k].reduce(1, *)
            let sums: [Double]
            switch y.dtype {
            case .float32: sums = fusedSumsKernel(program, xs, shape, units: units, outputs: [(program.outputs[0], k > 0)], Float.self)[0]
            case .float64: sums = fusedSumsKernel(program, xs, shape, units: units, outputs: [(program.outputs[0], k > 0)], Double.self)[0]
            }
            y.store(sums)
        }
        return record("fusedSum", xs, y, fused: FusedNode(program: program, shape: shape)) { c in
            try fusedGradients(program, xs, [c.grad], shape, c.needs)
        }
    }

    /// Writes float64 results into a new tensor of this tensor's dtype (rounding once).
    func store(_ values: [Double]) {
        switch dtype {
        case .float32: let p = mutablePointer(Float.self); for (i, v) in values.enumerated() where i < count { p[i] = Float(v) }
        case .float64: let p = mutablePointer(Double.self); for (i, v) in values.enumerated() where i < count { p[i] = v }
        }
    }

    static func promoteAll(_ xs: [Tensor]) -> [Tensor] {
        let d: DType = xs.contains { $0.dtype == .float64 } ? .float64 : .float32
        return xs.map { $0.to(d) }
    }

    /// Forward of a single-output program as a differentiable op.
    static func fusedApply(_ program: FusedProgram, _ xs: [Tensor], _ shape: [Int]) -> Tensor {
        let y = Tensor(uninitializedShape: shape, dtype: xs[0].dtype)
        switch y.dtype {
        case .float32: fusedMapKernel(program, xs, [y], Float.self)
        case .float64: fusedMapKernel(program, xs, [y], Double.self)
        }
        return record("fusedMap", xs, y, fused: FusedNode(program: program, shape: shape)) { c in
            try fusedGradients(program, xs, [c.grad], shape, c.needs)
        }
    }

    /// ∂/∂xs of ⟨program(xs), upstream⟩. Without graph recording: one multi-output pass. With it:
    /// one differentiable single-output fused op per needed input.
    static func fusedGradients(_ program: FusedProgram, _ xs: [Tensor], _ upstream: [Tensor], _ shape: [Int],
                               _ needs: [Bool]) throws -> [Tensor?] {
        let wrt = (0..<xs.count).filter { needs[$0] }
        let gp = try program.gradient(wrt: wrt.map { k in program.code.firstIndex(of: .input(k))! },
                                      recordsGraph: GradMode.enabled).pruned()
        let args = xs + upstream
        var result = [Tensor?](repeating: nil, count: xs.count)
        if GradMode.enabled {
            for (j, k) in wrt.enumerated() {
                // Inputs broadcast from one element get their gradient summed back.
                result[k] = try fusedApply(gp.selecting(j), args, shape).sumTo(xs[k].shape)
            }
            return result
        }
        let gs = try runGradientProgram(gp, args, shape, outputShapes: wrt.map { xs[$0].shape })
        for (j, k) in wrt.enumerated() { result[k] = gs[j] }
        return result
    }

    /// Runs a gradient program (no graph recorded) whose output j is summed back to
    /// `outputShapes[j]` (the shape of the input it is the gradient of) from the iteration
    /// `shape`: outputs of that full shape are written in place; the others are reduced inside
    /// the pass when the shapes allow it, else written at full size and summed back (`sumTo`,
    /// the reference path that CoreFusionTests compare the in-pass reduction with).
    static func runGradientProgram(_ gp: FusedProgram, _ args: [Tensor], _ shape: [Int],
                                   outputShapes: [[Int]]) throws -> [Tensor] {
        let dtype = args[0].dtype
        if EngineOptions.current.fusedReduceInPass,
           let split = FusedReductionSplit(out: shape, reduced: outputShapes.filter { $0 != shape }) {
            var fullOuts: [(output: Int, tensor: Tensor)] = [], reducedOuts: [(output: Int, tensor: Tensor)] = []
            var result: [Tensor] = []
            for (j, s) in outputShapes.enumerated() {
                let t = Tensor(uninitializedShape: s, dtype: dtype)
                if s == shape { fullOuts.append((j, t)) } else { reducedOuts.append((j, t)) }
                result.append(t)
            }
            switch dtype {
            case .float32: fusedReducingKernel(gp, args, shape, full: fullOuts, reduced: reducedOuts, split: split, Float.self)
            case .float64: fusedReducingKernel(gp, args, shape, full: fullOuts, reduced: reducedOuts, split: split, Double.self)
            }
            return result
        }
        let full = outputShapes.map { _ in Tensor(uninitializedShape: shape, dtype: dtype) }
        switch dtype {
        case .float32: fusedMapKernel(gp, args, full, Float.self)
        case .float64: fusedMapKernel(gp, args, full, Double.self)
        }
        return try zip(full, outputShapes).map { try $0.sumTo($1) }
    }
}
