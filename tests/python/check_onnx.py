"""Runs onnx.checker (full_check: shape inference in strict mode too) on every .onnx file in DIR,
and, when this onnx has a runtime (onnx.reference, onnx >= 1.13), compares its outputs with ours.

    /usr/bin/python3 check_onnx.py DIR

Numerics need a fixture beside the model (NAME.json from tests/interop/export_fixtures: inputs and
our engine's outputs as raw arrays); without onnx.reference they are skipped, and the script says
so. Debian 12 ships onnx 1.12, which has no runtime.
"""
import json
import pathlib
import sys
import warnings

warnings.filterwarnings("ignore")
import numpy as np  # noqa: E402
import onnx  # noqa: E402

try:
    from onnx.reference import ReferenceEvaluator
except ImportError:
    ReferenceEvaluator = None

# Our ONNX graphs decompose some ops (attention, RMS norm, GELU) differently from ATen, so they
# agree to float rounding, not bit for bit: within 1e-4 of the output's scale (its largest magnitude,
# at least 1), since rounding grows with the values (onnx_sequence_ops' outputs reach the tens, where
# LibTorch 2.6 and the reference differ by 1.1e-4).
TOLERANCE = 1e-4


def scale(arrays):
    return max([1.0] + [float(np.abs(a).max()) for a in arrays if a.size])


def read(d, spec):
    dtype = np.int64 if spec["dtype"] == "int64" else np.float32
    return np.fromfile(d / spec["file"], dtype=dtype).reshape(spec["shape"])


def compare(path, model):
    """Returns (ok, message) for the numerical check of one file."""
    if ReferenceEvaluator is None:
        return True, f"numerics skipped: onnx {onnx.__version__} has no onnx.reference"
    meta_path = path.with_suffix(".json")
    if not meta_path.exists():
        return True, "numerics skipped: no fixture (NAME.json) beside the model"
    meta = json.loads(meta_path.read_text())
    d = path.parent
    names = [i.name for i in model.graph.input]
    feeds = {n: read(d, s) for n, s in zip(names, meta["inputs"])}
    got = ReferenceEvaluator(model).run(None, feeds)
    want = [read(d, s) for s in meta["outputs"]]
    if len(got) != len(want):
        return False, f"{len(got)} outputs, expected {len(want)}"
    for k, (g, w) in enumerate(zip(got, want)):
        if g.shape != w.shape:
            return False, f"output {k}: shape {g.shape}, expected {w.shape}"
    diff = max(float(np.abs(g - w).max()) if g.size else 0.0 for g, w in zip(got, want))
    s = scale(want)
    return diff <= TOLERANCE * s, f"max abs diff {diff:.3g}" + (f" (scale {s:.3g})" if s > 1 else "")


def main(d):
    files = sorted(d.glob("*.onnx"))
    if not files:
        print(f"no .onnx files in {d}")
        return 1
    failed = 0
    for path in files:
        try:
            model = onnx.load(str(path))
            onnx.checker.check_model(model, full_check=True)
        except Exception as e:  # checker and shape-inference errors alike
            print(f"FAIL {path.name}: {type(e).__name__}: {' '.join(str(e).split())[:400]}")
            failed += 1
            continue
        try:
            ok, message = compare(path, model)
        except Exception as e:
            ok, message = False, f"runtime error: {type(e).__name__}: {e}"
        failed += not ok
        nodes = len(model.graph.node)
        print(f"{'ok  ' if ok else 'FAIL'} {path.name}: checker accepts ({nodes} nodes); {message}")
    print(f"{len(files) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1])))
