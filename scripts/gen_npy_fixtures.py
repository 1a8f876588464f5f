#!/usr/bin/env python3
"""Writes the NumPy-made fixtures under fixtures/npy/ that NpyIO's tests read.

Every numeric dtype x byte order x memory order x format version, special shapes,
non-finite values, and .npz archives (stored, deflate, data descriptors, a bad member).
`expected.json` holds what NumPy itself reads back: dtype string, shape, order, the
values as float64 and float32 (C order, repr strings so nothing is lost) and the
float64 statistics `losscli inspect` reports.

Run from the repository root:  python3 scripts/gen_npy_fixtures.py
Deterministic: same NumPy, same bytes.
"""
import io
import json
import os
import sys
import zipfile

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "npy")
SHAPE = (3, 4, 2)


def values_for(dt):
    """24 values that exercise the type: extremes, negatives, fractions."""
    dt = np.dtype(dt)
    n = int(np.prod(SHAPE))
    if dt.kind == "b":
        return (np.arange(n) % 3 == 0).reshape(SHAPE)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        base = np.arange(n, dtype=np.int64) * 7 - (40 if dt.kind == "i" else 0)
        a = np.clip(base, info.min, info.max).astype(dt)
        a[0] = info.min
        a[1] = info.max
        return a.reshape(SHAPE)
    rng = np.random.default_rng(42)
    a = (rng.standard_normal(n) * 3).astype(dt)
    a[0] = np.finfo(dt).max
    a[1] = -np.finfo(dt).tiny
    a[2] = 0.5
    return a.reshape(SHAPE)


def stats(a):
    b = np.asarray(a, dtype=np.float64)
    if b.size == 0:
        return {"min": None, "max": None, "mean": None, "sum": 0.0, "nonfinite": 0}
    return {
        "min": repr(float(b.min())),
        "max": repr(float(b.max())),
        "mean": repr(float(b.mean())),
        "sum": repr(float(b.sum())),
        "nonfinite": int((~np.isfinite(b)).sum()),
    }


def describe(a, version=None):
    c = np.ascontiguousarray(a)
    d = {
        "dtype": a.dtype.str,
        "shape": list(a.shape),
        "fortran_order": bool(a.flags.f_contiguous and not a.flags.c_contiguous),
        "f64": [repr(float(x)) for x in c.astype(np.float64).ravel()],
        "f32": [repr(float(x)) for x in c.astype(np.float32).ravel()],
    }
    d.update(stats(a))
    if version is not None:
        d["version"] = list(version)
    return d


def save(name, a, version, expected):
    with open(os.path.join(OUT, name), "wb") as f:
        np.lib.format.write_array(f, a, version=version, allow_pickle=False)
    expected[name] = describe(a, version)


class Unseekable(io.RawIOBase):
    """A write-only stream without seek: zipfile then writes data descriptors."""

    def __init__(self, sink):
        self.sink = sink

    def writable(self):
        return True

    def write(self, b):
        self.sink.write(b)
        return len(b)


def npy_bytes(a):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, version=(1, 0))
    return buf.getvalue()


def main():
    np.seterr(all="ignore")  # casts of float64 max to float32 give inf, sums of inf give nan: both wanted
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        os.remove(os.path.join(OUT, old))
    expected = {}

    kinds = ["b1", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8"]
    for code in kinds:
        orders = ["|"] if code[1] == "1" else ["<", ">"]
        for bo in orders:
            dt = np.dtype(bo + code)
            tag = {"|": "na", "<": "le", ">": "be"}[bo]
            base = values_for(dt)
            for mem in ["C", "F"]:
                a = np.asfortranarray(base) if mem == "F" else np.ascontiguousarray(base)
                for v in [(1, 0), (2, 0), (3, 0)]:
                    save(f"{code}_{tag}_{mem}_v{v[0]}.npy", a, v, expected)

    # Shapes at the edges.
    save("shape_scalar.npy", np.array(2.5, dtype="<f8"), (1, 0), expected)
    save("shape_0.npy", np.zeros((0,), dtype="<f4"), (1, 0), expected)
    save("shape_3_0_2.npy", np.zeros((3, 0, 2), dtype="<i2"), (1, 0), expected)
    save("shape_3_0_2_F.npy", np.asfortranarray(np.zeros((3, 0, 2), dtype=">f4")), (1, 0), expected)
    save("shape_1_F.npy", np.asfortranarray(np.arange(5, dtype="<f4")), (1, 0), expected)
    # Non-finite values: NaN makes min/max NaN (np.min), inf counts as non-finite.
    save("nonfinite_f4.npy", np.array([1.0, np.nan, -np.inf, 3.0, np.inf] * 7, dtype="<f4"), (1, 0), expected)
    save("inf_only_f8.npy", np.array([1.0, -np.inf, 2.0], dtype=">f8"), (1, 0), expected)
    # Written by np.save itself (the default version choice and header padding).
    a = np.arange(12, dtype="<f4").reshape(3, 4) / 7
    np.save(os.path.join(OUT, "np_save_f4.npy"), a)
    expected["np_save_f4.npy"] = describe(a, (1, 0))
    arrays = {
        "pred": (np.arange(24, dtype="<f4").reshape(2, 3, 4) - 5) / 3,
        "mask": np.arange(6).reshape(2, 3) % 2 == 0,
        "weight_F": np.asfortranarray(np.arange(12, dtype=">f8").reshape(3, 4)),
        "count": np.arange(5, dtype="<i8") - 2,
        "empty": np.zeros((0, 3), dtype="<f4"),
    }
    np.savez(os.path.join(OUT, "bundle_stored.npz"), **arrays)
    np.savez_compressed(os.path.join(OUT, "bundle_deflate.npz"), **arrays)
    # Data descriptors: members streamed to an unseekable file carry their CRC and
    # sizes after the data (flag bit 3); one stored, one deflated.
    sink = io.BytesIO()
    with zipfile.ZipFile(Unseekable(sink), "w") as z:
        for method, key in [(zipfile.ZIP_STORED, "pred"), (zipfile.ZIP_DEFLATED, "weight_F")]:
            info = zipfile.ZipInfo(key + ".npy")
            info.compress_type = method
            with z.open(info, "w", force_zip64=True) as m:
                m.write(npy_bytes(arrays[key]))
    with open(os.path.join(OUT, "bundle_descriptor.npz"), "wb") as f:
        f.write(sink.getvalue())
    # A member that is not a .npy file.
    with zipfile.ZipFile(os.path.join(OUT, "bad_member.npz"), "w") as z:
        z.writestr("good.npy", npy_bytes(arrays["count"]))
        z.writestr("bad.npy", b"this is not an array")
    # The same key twice (zipfile warns, but writes it).
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(os.path.join(OUT, "duplicate.npz"), "w") as z:
            z.writestr("x.npy", npy_bytes(arrays["count"]))
            z.writestr("x.npy", npy_bytes(arrays["count"]))
    for name, ks in [("bundle_stored.npz", list(arrays)), ("bundle_deflate.npz", list(arrays)),
                     ("bundle_descriptor.npz", ["pred", "weight_F"])]:
        loaded = np.load(os.path.join(OUT, name))
        assert list(loaded.keys()) == ks, (name, list(loaded.keys()))
        expected[name] = {k: describe(loaded[k]) for k in ks}

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"numpy": np.__version__, "files": expected}, f, indent=0, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, p)) for p in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, to {os.path.normpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
