"""Loads every TorchScript file that tests/interop/export_fixtures wrote, runs it in Python's
PyTorch on the same input, and compares with the output our engine computed (max abs diff <= 1e-5).

    /usr/bin/python3 check_torchscript.py DIR [--device cuda]

With --device cuda the modules load with map_location="cuda" and run on CUDA inputs: our
TorchScript must create every tensor on its input's device. Without a GPU that check exits 77
(skipped), saying why.
"""
import json
import pathlib
import sys
import warnings

warnings.filterwarnings("ignore")
import numpy as np  # noqa: E402
import torch  # noqa: E402


def read(d, spec):
    dtype = np.int64 if spec["dtype"] == "int64" else np.float32
    return torch.from_numpy(np.fromfile(d / spec["file"], dtype=dtype).reshape(spec["shape"]))


def main(d, device):
    if device != "cpu" and not torch.cuda.is_available():
        print(f"SKIPPED: PyTorch {torch.__version__} sees no CUDA device (built with CUDA {torch.version.cuda})")
        return 77
    metas = sorted(d.glob("*.json"))
    if not metas:
        print(f"no fixtures in {d}")
        return 1
    failed = 0
    for meta_path in metas:
        meta = json.loads(meta_path.read_text())
        name = meta["name"]
        model = torch.jit.load(str(d / f"{name}.pt"), map_location=device).eval()
        inputs = [read(d, s).to(device) for s in meta["inputs"]]
        with torch.no_grad():
            got = model(*inputs)
        got = list(got) if isinstance(got, tuple) else [got]
        if any(g.device.type != torch.device(device).type for g in got):
            print(f"FAIL {name}: an output is not on {device}")
            failed += 1
            continue
        got = [g.cpu() for g in got]
        want = [read(d, s) for s in meta["outputs"]]
        if len(got) != len(want):
            print(f"FAIL {name}: {len(got)} outputs, expected {len(want)}")
            failed += 1
            continue
        diff = max((g - w).abs().max().item() for g, w in zip(got, want))
        shapes_ok = all(g.shape == w.shape for g, w in zip(got, want))
        # On CUDA the sums run in another order (TF32 off): 1e-4 of the output's scale.
        tol = 1e-5 if device == "cpu" else 1e-4 * max(1.0, max(w.abs().max().item() for w in want))
        ok = shapes_ok and diff <= tol
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {len(got)} output(s), max abs diff {diff:.3g}")
    print(f"{len(metas) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    device = args[args.index("--device") + 1] if "--device" in args else "cpu"
    if device != "cpu":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    sys.exit(main(pathlib.Path(args[0]), device))
