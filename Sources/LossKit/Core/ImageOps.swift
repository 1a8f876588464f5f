// Differentiable image ops on NCHW tensors with PyTorch's names and semantics: conv2d,
// avg_pool2d, max_pool2d, adaptive_avg_pool2d and interpolate. Each wraps the raw kernels of
// Kernels/ (Conv2d*, Pool2d*, Resize2d*): the geometry helper validates the user's shapes
// (a `KernelShapeError` becomes a `TensorError` naming the op and the shapes), then the
// kernel runs on contiguous storage.
//
// Every op here is linear in each tensor argument, and its derivative is another op of this
// file (see Kernels/Conv2d.swift and Pool2d.swift for the adjoint identities):
//   conv2d(x, W)              → x̄ = conv2dInputGrad(v, W),  W̄ = conv2dWeightGrad(v, x)
//   conv2dInputGrad(gy, W)    → ḡy = conv2d(v, W),          W̄ = conv2dWeightGrad(gy, v)
//   conv2dWeightGrad(gy, x)   → ḡy = conv2d(x, v),          x̄ = conv2dInputGrad(gy, v)
//   avgPool / adaptive / interpolate ↔ their adjoints (each the other's derivative)
//   maxPool (indices fixed)   → scatter by index ↔ gather by index
// so gradients of gradients (createGraph) are exact to any order.

/// Runs a kernel geometry initialiser, turning its `KernelShapeError` into a `TensorError`
/// that names the op and the shapes involved.
func validatedGeometry<G>(_ shapes: [(String, [Int])], _ make: () throws -> G) throws -> G {
    do { return try make() } catch let e as KernelShapeError {
        let listed = shapes.map { "\($0.0) \(formatShape($0.1))" }.joined(separator: ", ")
        throw TensorError.invalidArgument(op: e.op, message: "\(e.message) [\(listed)]")
    }
}

/// Throws unless every tensor has the dtype of the first.
func requireSameDType(_ op: String, _ named: [(String, Tensor)]) throws {
    guard let first = named.first else { return }
    for (name, t) in named.dropFirst() where t.dtype != first.1.dtype {
        throw TensorError.invalidArgument(op: op, message: "\(name) is \(t.dtype) but \(first.0) is \(first.1.dtype)")
    }
}

// MARK: conv2d

/// `torch.nn.functional.conv2d(input, weight, bias, stride, padding, dilation, groups)`:
/// cross-correlation of `input` (N, C, H, W) with `weight` (OC, C/groups, KH, KW), plus
/// `bias` (OC). Pairs are (height, width). Differentiable in all three, to any order.
/// `winogradCache`: for a weight that never changes (a network layer's), keeps the Winograd
/// path's transformed filters for later calls, gradients included.
public func conv2d(_ input: Tensor, _ weight: Tensor, bias: Tensor? = nil,
                   stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                   dilation: (Int, Int) = (1, 1), groups: Int = 1,
                   winogradCache: WinogradFilterCache? = nil) throws -> Tensor {
    try conv2d([input], weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups,
               winogradCache: winogradCache)[0]
}

/// `conv2d` of several inputs of one shape and dtype with the same weight (a network layer's
/// prediction and target): each result as the one-input form gives it, recorded on its own,
/// with the Winograd filters transformed once for all (one use of `winogradCache`).
func conv2d(_ inputs: [Tensor], _ weight: Tensor, bias: Tensor? = nil,
            stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
            dilation: (Int, Int) = (1, 1), groups: Int = 1,
            winogradCache: WinogradFilterCache? = nil) throws -> [Tensor] {
    guard let input = inputs.first else { return [] }
    var named = [("input", input), ("weight", weight)]
    if let bias { named.append(("bias", bias)) }
    try requireSameDType("conv2d", named + inputs.dropFirst().map { ("input", $0) })
    if let other = inputs.first(where: { $0.shape != input.shape }) {
        throw TensorError.shapeMismatch(op: "conv2d (inputs of one call)", shapes: [input.shape, other.shape])
    }
    let g = try validatedGeometry(named.map { ($0.0, $0.1.shape) }) {
        try Conv2dGeometry(input: input.shape, weight: weight.shape, bias: bias?.shape,
                           stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
    return conv2dApply(inputs, weight, bias, g, winogradCache)
}

/// The forward with a validated geometry (`x`, `w`, `b` hold its shapes).
func conv2dApply(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ g: Conv2dGeometry, _ cache: WinogradFilterCache? = nil) -> Tensor {
    conv2dApply([x], w, b, g, cache)[0]
}

/// The forward of inputs that each hold `g.inputShape`, in one kernel call.
func conv2dApply(_ xs: [Tensor], _ w: Tensor, _ b: Tensor?, _ g: Conv2dGeometry, _ cache: WinogradFilterCache?) -> [Tensor] {
    let ys = xs.map { Tensor(uninitializedShape: g.outputShape, dtype: $0.dtype) }
    func run<T: TensorScalar>(_: T.Type) {
        conv2dForward(g, inputs: xs.map { $0.pointer(T.self) }, weight: w.pointer(T.self), bias: b?.pointer(T.self),
                      outputs: ys.map { $0.mutablePointer(T.self) }, winogradCache: cache)
    }
    if (xs.first ?? w).dtype == .float32 { run(Float.self) } else { run(Double.self) }
    return zip(xs, ys).map { x, y in
        var inputs = [x, w]
        if let b { inputs.append(b) }
        return record("conv2d", inputs, y) { c in
            [c.needs[0] ? conv2dInputGrad(c.grad, w, g, cache) : nil,
             c.needs[1] ? conv2dWeightGrad(c.grad, x, g) : nil,
             c.needs.count > 2 && c.needs[2] ? try c.grad.sum(dims: [0, 2, 3]) : nil]
        }
    }
}

/// `∂⟨conv2d(x, w), gy⟩/∂x` (the transposed convolution of `gy`), shape `g.inputShape`.
func conv2dInputGrad(_ gy: Tensor, _ w: Tensor, _ g: Conv2dGeometry, _ cache: WinogradFilterCache? = nil) -> Tensor {
    let gx = Tensor(uninitializedShape: g.inputShape, dtype: gy.dtype)
    func run<T: TensorScalar>(_: T.Type) {
        conv2dBackwardInput(g, gradOutput: gy.pointer(T.self), weight: w.pointer(T.self),
                            gradInput: gx.mutablePointer(T.self), winogradCache: cache)
    }
    if gy.dtype == .float32 { run(Float.self) } else { run(Double.self) }
    return record("conv2d_input_grad", [gy, w], gx) { c in
        [c.needs[0] ? conv2dApply(c.grad, w, nil, g, cache) : nil,
         c.needs[1] ? conv2dWeightGrad(gy, c.grad, g) : nil]
    }
}

/// `∂⟨conv2d(x, w), gy⟩/∂w` summed over the batch, shape `g.weightShape`.
func conv2dWeightGrad(_ gy: Tensor, _ x: Tensor, _ g: Conv2dGeometry) -> Tensor {
    let gw = Tensor(uninitializedShape: g.weightShape, dtype: gy.dtype)
    func run<T: TensorScalar>(_: T.Type) {
        conv2dBackwardWeight(g, gradOutput: gy.pointer(T.self), input: x.pointer(T.self),
                             gradWeight: gw.mutablePointer(T.self))
    }
    if gy.dtype == .float32 { run(Float.self) } else { run(Double.self) }
    return record("conv2d_weight_grad", [gy, x], gw) { c in
        [c.needs[0] ? conv2dApply(x, c.grad, nil, g) : nil,
         c.needs[1] ? conv2dInputGrad(gy, c.grad, g) : nil]
    }
}

// MARK: Pooling

/// `torch.nn.functional.avg_pool2d(input, kernel, stride, padding, ceil_mode,
/// count_include_pad, divisor_override)`; `stride` nil means the kernel size.
public func avgPool2d(_ input: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil,
                      padding: (Int, Int) = (0, 0), ceilMode: Bool = false,
                      countIncludePad: Bool = true, divisorOverride: Int? = nil) throws -> Tensor {
    let g = try validatedGeometry([("input", input.shape)]) {
        try Pool2dGeometry(op: "avg_pool2d", input: input.shape, kernel: kernel, stride: stride,
                           padding: padding, ceilMode: ceilMode)
    }
    if let d = divisorOverride, d == 0 {
        throw TensorError.invalidArgument(op: "avg_pool2d", message: "divisor must be not zero")
    }
    return avgPool2dApply(input, g, countIncludePad, divisorOverride)
}

func avgPool2dApply(_ x: Tensor, _ g: Pool2dGeometry, _ cip: Bool, _ div: Int?) -> Tensor {
    let y = Tensor(uninitializedShape: g.outputShape, dtype: x.dtype)
    func run<T: TensorScalar>(_: T.Type) {
        avgPool2dForward(g, countIncludePad: cip, divisorOverride: div, input: x.pointer(T.self), output: y.mutablePointer(T.self))
    }
    if x.dtype == .float32 { run(Float.self) } else { run(Double.self) }
    return record("avg_pool2d", [x], y) { c in [avgPool2dAdjoint(c.grad, g, cip, div)] }
}

func avgPool2dAdjoint(_ gy: Tensor, _ g: Pool2dGeometry, _ cip: Bool, _ div: Int?) -> Tensor {
    let gx = Tensor(uninitializedShape: g.inputShape, dtype: gy.dtype)
    func run<T: TensorScalar>(_: T.Type) {
        avgPool2dBackward(g, countIncludePad: cip, divisorOverride: div, gradOutput: gy.pointer(T.self), gradInput: gx.mutablePointer(T.self))
    }
    if gy.dtype == .float32 { run(Float.self) } else { run(Double.self) }
    return record("avg_pool2d_backward", [gy], gx) { c in [avgPool2dApply(c.grad, g, cip, div)] }
}

/// `torch.nn.functional.max_pool2d(input, kernel, stride, padding, dilation, ceil_mode)`;
/// `stride` nil means the kernel size. The gradient goes to the chosen pixel of each window
/// (PyTorch's choice: first maximum, NaN wins).
public func maxPool2d(_ input: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil,
                      padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
                      ceilMode: Bool = false) throws -> Tensor {
    try maxPool2dWithIndices(input, kernel: kernel, stride: stride, padding: padding,
                             dilation: dilation, ceilMode: ceilMode).values
}

/// `max_pool2d(..., return_indices=True)`: the values and, per output cell, the flat index
/// `iy·W + ix` of the chosen pixel within its plane.
public func maxPool2dWithIndices(_ input: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil,
                                 padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
                                 ceilMode: Bool = false) throws -> (values: Tensor, indices: [Int]) {
    let g = try validatedGeometry([("input", input.shape)]) {
        try Pool2dGeometry(op: "max_pool2d", input: input.shape, kernel: kernel, stride: stride,
                           padding: padding, dilation: dilation, ceilMode: ceilMode)
    }
    let y = Tensor(uninitializedShape: g.outputShape, dtype: input.dtype)
    // The kernel writes every index (zero-filling them first cost a pass over 8 bytes per output).
    let indices = [Int](unsafeUninitializedCapacity: y.count) { idx, count in
        func run<T: TensorScalar>(_: T.Type) {
            guard let base = idx.baseAddress else { return }   // empty output: nothing to pool
            maxPool2dForward(g, input: input.pointer(T.self), output: y.mutablePointer(T.self), indices: base)
        }
        if input.dtype == .float32 { run(Float.self) } else { run(Double.self) }
        count = y.count
    }
    let frozen = indices
    let out = record("max_pool2d", [input], y) { c in [maxPool2dScatter(c.grad, frozen, g)] }
    return (out, indices)
}

/// Max pooling's adjoint with fixed indices: `gx[plane][indices[o]] += gy[plane][o]`.
func maxPool2dScatter(_ gy: Tensor, _ indices: [Int], _ g: Pool2dGeometry) -> Tensor {
    let gx = Tensor(uninitializedShape: g.inputShape, dtype: gy.dtype)
    func run<T: TensorScalar>(_: T.Type) {
        indices.withUnsafeBufferPointer { idx in
            guard let base = idx.baseAddress else {   // empty output, so the input is empty too
                gx.mutablePointer(T.self).initialize(repeating: 0, count: gx.count); return
            }
            maxPool2dBackward(g, indices: base, gradOutput: gy.pointer(T.self), gradInput: gx.mutablePointer(T.self))
        }
    }
    if gy.dtype == .float32 { run(Float.self) } else { run(Double.self) }
    return record("max_pool2d_backward", [gy], gx) { c in [maxPool2dGatherOp(c.grad, indices, g)] }
}

/// `y[plane][o] = x[plane][indices[o]]` (max pooling with the indices frozen).
func maxPool2dGatherOp(_ x: Tensor, _ indices: [Int], _ g: Pool2dGeometry) -> Tensor {
    let y = Tensor(uninitializedShape: g.outputShape, dtype: x.dtype)
    func run<T: TensorScalar>(_: T.Type) {
        indices.withUnsafeBufferPointer { idx in
            guard let base = idx.baseAddress else { return }
            maxPool2dGather(g, indices: base, source: x.pointer(T.self), output: y.mutablePointer(T.self))
        }
    }
    if x.dtype == .float32 { run(Float.self) } else { run(Double.self) }
    return record("max_pool2d_gather", [x], y) { c in [maxPool2dScatter(c.grad, indices, g)] }
}

/// `torch.nn.functional.adaptive_avg_pool2d(input, outputSize)` on (N, C, H, W).
public func adaptiveAvgPool2d(_ input: Tensor, outputSize: (Int, Int)) throws -> Tensor {
    let g = try validatedGeometry([("input", input.shape)]) {
        try AdaptivePool2dGeometry(input: input.shape, outputSize: outputSize)
    }
    return adaptiveAvgPool2dApply(input, g)
}

func adaptiveAvgPool2dApply(_ x: Tensor, _ g: AdaptivePool2dGeometry) -> Tensor {
    let y = Tensor(uninitializedShape: g.outputShape, dtype: x.dtype)
    func run<T: TensorScalar>(_: T.Type) {
        adaptiveAvgPool2dForward(g, input: x.pointer(T.self), output: y.mutablePointer(T.self))
    }
    if x.dtype == .float32 { run(Float.self) } else { run(Double.self) }
    return record("adaptive_avg_pool2d", [x], y) { c in [adaptiveAvgPool2dAdjoint(c.grad, g)] }
}

func adaptiveAvgPool2dAdjoint(_ gy: Tensor, _ g: AdaptivePool2dGeometry) -> Tensor {
    let gx = Tensor(uninitializedShape: g.inputShape, dtype: gy.dtype)
    func run<T: TensorScalar>(_: T.Type) {
        adaptiveAvgPool2dBackward(g, gradOutput: gy.pointer(T.self), gradInput: gx.mutablePointer(T.self))
    }
    if gy.dtype == .float32 { run(Float.self) } else { run(Double.self) }
    return record("adaptive_avg_pool2d_backward", [gy], gx) { c in [adaptiveAvgPool2dApply(c.grad, g)] }
}

// MARK: interpolate

/// `torch.nn.functional.interpolate` on (N, C, H, W) with exactly one of `size` (height,
/// width) or `scaleFactor` (height, width). `alignCorners` must stay nil for `.nearest` (as in
/// PyTorch) and means false otherwise; `recomputeScaleFactor` as in PyTorch.
public func interpolate(_ input: Tensor, size: (Int, Int)? = nil, scaleFactor: (Double, Double)? = nil,
                        mode: ResizeMode = .nearest, alignCorners: Bool? = nil,
                        recomputeScaleFactor: Bool = false) throws -> Tensor {
    let g: Resize2dGeometry = try validatedGeometry([("input", input.shape)]) {
        switch (size, scaleFactor) {
        case let (s?, nil):
            return try Resize2dGeometry(input: input.shape, size: s, mode: mode, alignCorners: alignCorners)
        case let (nil, f?):
            return try Resize2dGeometry(input: input.shape, scaleFactor: f, mode: mode,
                                        alignCorners: alignCorners, recomputeScaleFactor: recomputeScaleFactor)
        default:
            throw KernelShapeError(op: "interpolate", "exactly one of size and scale_factor must be given")
        }
    }
    return interpolateApply(input, g)
}

func interpolateApply(_ x: Tensor, _ g: Resize2dGeometry) -> Tensor {
    let y = Tensor(uninitializedShape: g.outputShape, dtype: x.dtype)
    func run<T: TensorScalar>(_: T.Type) {
        resize2dForward(g, input: x.pointer(T.self), output: y.mutablePointer(T.self))
    }
    if x.dtype == .float32 { run(Float.self) } else { run(Double.self) }
    return record("interpolate", [x], y) { c in [interpolateAdjoint(c.grad, g)] }
}

func interpolateAdjoint(_ gy: Tensor, _ g: Resize2dGeometry) -> Tensor {
    let gx = Tensor(uninitializedShape: g.inputShape, dtype: gy.dtype)
    func run<T: TensorScalar>(_: T.Type) {
        resize2dBackward(g, gradOutput: gy.pointer(T.self), gradInput: gx.mutablePointer(T.self))
    }
    if gy.dtype == .float32 { run(Float.self) } else { run(Double.self) }
    return record("interpolate_backward", [gy], gx) { c in [interpolateApply(c.grad, g)] }
}
