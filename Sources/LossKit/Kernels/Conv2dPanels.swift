// The GEMM operands of conv2d, packed straight from the NCHW tensors ("implicit im2col"):
// no column matrix is ever stored. Patch index p = (c, ki, kj) is row-major over
// (channels, KH, KW), i.e. the memory order of a weight row; pixel index j = (row, col) is
// row-major over an image grid.

/// Splits output-grid columns `j0..<j0+nc` into runs that stay on one grid row and inside one
/// `nr`-column strip. A run is 5 Ints: grid row, first grid column, length, strip, offset in
/// the strip. Returns the number of runs (at most `nc`).
@inline(__always)
func convGridRuns(_ runs: UnsafeMutablePointer<Int>, j0: Int, nc: Int, gridWidth: Int, nr: Int) -> Int {
    var j = 0
    var count = 0
    while j < nc {
        let col = j0 + j
        let row = col / gridWidth
        let c0 = col - row * gridWidth
        let inStrip = j % nr
        let len = min(gridWidth - c0, nr - inStrip, nc - j)
        let r = runs + 5 * count
        r[0] = row
        r[1] = c0
        r[2] = len
        r[3] = j / nr
        r[4] = inStrip
        j += len
        count += 1
    }
    return count
}

/// Zeroes the columns `nc % nr ..< nr` of the last strip of a packed B panel.
@inline(__always)
func zeroPanelTail<T: KernelFloat>(_ dst: UnsafeMutablePointer<T>, kc: Int, nc: Int, nr: Int) {
    let used = nc % nr
    if used == 0 { return }
    let strip = dst + (nc / nr) * kc * nr
    for q in 0..<kc {
        for c in used..<nr { strip[q * nr + c] = 0 }
    }
}

/// B for the forward pass of one (image, group): `B(p, j) = x[c, oh·sh − ph + ki·dh, ow·sw − pw + kj·dw]`
/// (zero outside the image), p over (C/groups, KH, KW), j over (OH, OW).
struct ConvIm2colPanel<Scalar: KernelFloat>: GemmPackB {
    var x: UnsafePointer<Scalar>
    var g: Conv2dGeometry
    var runs: UnsafeMutablePointer<Int>

    func packB(_ dst: UnsafeMutablePointer<Scalar>, p0: Int, kc: Int, j0: Int, nc: Int) {
        let nr = GemmBlocking.nr(Scalar.self)
        let count = convGridRuns(runs, j0: j0, nc: nc, gridWidth: g.outWidth, nr: nr)
        zeroPanelTail(dst, kc: kc, nc: nc, nr: nr)
        let h = g.height, w = g.width, kw = g.kernelW, khw = g.kernelH * g.kernelW
        let sh = g.strideH, sw = g.strideW, ph = g.padH, pw = g.padW, dh = g.dilationH, dw = g.dilationW
        var c = p0 / khw
        var ki = (p0 % khw) / kw
        var kj = p0 % kw
        for q in 0..<kc {
            let plane = x + c * h * w
            for r in 0..<count {
                let run = runs + 5 * r
                let len = run[2]
                let d = dst + (run[3] * kc + q) * nr + run[4]
                let ih = run[0] * sh - ph + ki * dh
                if ih < 0 || ih >= h {
                    for t in 0..<len { d[t] = 0 }
                    continue
                }
                let src = plane + ih * w
                let iw0 = run[1] * sw - pw + kj * dw
                if len == nr && sw == 1 && iw0 >= 0 && iw0 + nr <= w {
                    // A whole strip inside the image: one vector copy (most strips).
                    storeVector(loadVector(src + iw0), d)
                    continue
                }
                // Columns t with 0 <= iw0 + t·sw < w (no integer division on the unit-stride
                // path: two divisions per run cost more than the copy).
                let tLo: Int, tHi: Int
                if sw == 1 {
                    tLo = min(len, max(0, -iw0))
                    tHi = max(tLo, min(len, w - iw0))
                } else {
                    tLo = iw0 >= 0 ? 0 : min(len, (-iw0 + sw - 1) / sw)
                    tHi = max(tLo, min(len, iw0 >= w ? 0 : (w - 1 - iw0) / sw + 1))
                }
                for t in 0..<tLo { d[t] = 0 }
                if sw == 1 {
                    for t in tLo..<tHi { d[t] = src[iw0 + t] }
                } else {
                    for t in tLo..<tHi { d[t] = src[iw0 + t * sw] }
                }
                for t in tHi..<len { d[t] = 0 }
            }
            kj += 1
            if kj == kw {
                kj = 0
                ki += 1
                if ki == g.kernelH { ki = 0; c += 1 }
            }
        }
    }
}

/// B for the input gradient of one (image, group), the gather form of the transposed
/// convolution: `B(p, j) = gy[o, oh, ow]` with `oh = (ih + ph − ki·dh) / sh`,
/// `ow = (iw + pw − kj·dw) / sw` when both divide exactly and land inside the output, else 0;
/// p over (OC/groups, KH, KW), j over (H, W). Each input pixel is produced by one dot
/// product, so no scatter (and no race) is needed.
struct ConvTransposedPanel<Scalar: KernelFloat>: GemmPackB {
    var gy: UnsafePointer<Scalar>
    var g: Conv2dGeometry
    var runs: UnsafeMutablePointer<Int>

    func packB(_ dst: UnsafeMutablePointer<Scalar>, p0: Int, kc: Int, j0: Int, nc: Int) {
        let nr = GemmBlocking.nr(Scalar.self)
        let count = convGridRuns(runs, j0: j0, nc: nc, gridWidth: g.width, nr: nr)
        zeroPanelTail(dst, kc: kc, nc: nc, nr: nr)
        let oh = g.outHeight, ow = g.outWidth, kw = g.kernelW, khw = g.kernelH * g.kernelW
        let sh = g.strideH, sw = g.strideW, ph = g.padH, pw = g.padW, dh = g.dilationH, dw = g.dilationW
        var o = p0 / khw
        var ki = (p0 % khw) / kw
        var kj = p0 % kw
        for q in 0..<kc {
            let plane = gy + o * oh * ow
            for r in 0..<count {
                let run = runs + 5 * r
                let len = run[2]
                let d = dst + (run[3] * kc + q) * nr + run[4]
                let numH = run[0] + ph - ki * dh
                let y = numH / sh
                if numH < 0 || numH - y * sh != 0 || y >= oh {
                    for t in 0..<len { d[t] = 0 }
                    continue
                }
                let src = plane + y * ow
                let numW0 = run[1] + pw - kj * dw
                if len == nr && sw == 1 && numW0 >= 0 && numW0 + nr <= ow {
                    storeVector(loadVector(src + numW0), d)
                    continue
                }
                if sw == 1 {
                    let tLo = min(len, max(0, -numW0))
                    let tHi = max(tLo, min(len, ow - numW0))
                    for t in 0..<tLo { d[t] = 0 }
                    for t in tLo..<tHi { d[t] = src[numW0 + t] }
                    for t in tHi..<len { d[t] = 0 }
                } else {
                    for t in 0..<len {
                        let num = numW0 + t
                        let xo = num / sw
                        d[t] = (num >= 0 && num - xo * sw == 0 && xo < ow) ? src[xo] : 0
                    }
                }
            }
            kj += 1
            if kj == kw {
                kj = 0
                ki += 1
                if ki == g.kernelH { ki = 0; o += 1 }
            }
        }
    }
}

/// A for the input gradient of one group: `A(c, p) = w[o, c, ki, kj]` with p = (o, ki, kj),
/// i.e. the group's weight with its two channel axes swapped.
struct ConvTransposedWeight<Scalar: KernelFloat>: GemmPackA {
    var w: UnsafePointer<Scalar>
    var g: Conv2dGeometry

    func packA(_ dst: UnsafeMutablePointer<Scalar>, i0: Int, mc: Int, p0: Int, kc: Int) {
        let mr = GemmBlocking.mr
        let khw = g.kernelH * g.kernelW
        let cg = g.groupInChannels
        var s = 0
        while s * mr < mc {
            let strip = dst + s * kc * mr
            for r in 0..<mr {
                let c = i0 + s * mr + r
                if s * mr + r >= mc {
                    for q in 0..<kc { strip[q * mr + r] = 0 }
                    continue
                }
                var o = p0 / khw
                var kk = p0 % khw
                for q in 0..<kc {
                    strip[q * mr + r] = w[(o * cg + c) * khw + kk]
                    kk += 1
                    if kk == khw { kk = 0; o += 1 }
                }
            }
            s += 1
        }
    }
}

/// B for the weight gradient of one (image, group): the transposed column matrix,
/// `B(s, p) = x[c, oh·sh − ph + ki·dh, ow·sw − pw + kj·dw]` with s = (oh, ow) the depth and
/// p = (c, ki, kj) the column.
struct ConvIm2colTransposedPanel<Scalar: KernelFloat>: GemmPackB {
    var x: UnsafePointer<Scalar>
    var g: Conv2dGeometry

    func packB(_ dst: UnsafeMutablePointer<Scalar>, p0: Int, kc: Int, j0: Int, nc: Int) {
        let nr = GemmBlocking.nr(Scalar.self)
        let h = g.height, w = g.width, kw = g.kernelW, khw = g.kernelH * g.kernelW, ow = g.outWidth
        let sh = g.strideH, sw = g.strideW, ph = g.padH, pw = g.padW, dh = g.dilationH, dw = g.dilationW
        var s = 0
        while s * nr < nc {
            let strip = dst + s * kc * nr
            for cc in 0..<nr {
                let p = j0 + s * nr + cc
                if s * nr + cc >= nc {
                    for q in 0..<kc { strip[q * nr + cc] = 0 }
                    continue
                }
                let c = p / khw
                let ki = (p % khw) / kw
                let kj = p % kw
                let plane = x + c * h * w
                var y = p0 / ow
                var xo = p0 - y * ow
                var q = 0
                while q < kc {
                    // One run of depth steps along an output row.
                    let len = min(kc - q, ow - xo)
                    let d = strip + q * nr + cc
                    let ih = y * sh - ph + ki * dh
                    if ih < 0 || ih >= h {
                        for t in 0..<len { d[t * nr] = 0 }
                    } else {
                        let src = plane + ih * w
                        let iw0 = xo * sw - pw + kj * dw
                        let tLo: Int, tHi: Int
                        if sw == 1 {
                            tLo = min(len, max(0, -iw0))
                            tHi = max(tLo, min(len, w - iw0))
                        } else {
                            tLo = iw0 >= 0 ? 0 : min(len, (-iw0 + sw - 1) / sw)
                            tHi = max(tLo, min(len, iw0 >= w ? 0 : (w - 1 - iw0) / sw + 1))
                        }
                        for t in 0..<tLo { d[t * nr] = 0 }
                        for t in tLo..<tHi { d[t * nr] = src[iw0 + t * sw] }
                        for t in tHi..<len { d[t * nr] = 0 }
                    }
                    q += len
                    xo = 0
                    y += 1
                }
            }
            s += 1
        }
    }
}
