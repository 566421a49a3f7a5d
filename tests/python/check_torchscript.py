"""Loads every TorchScript file that tests/interop/export_fixtures wrote, runs it in Python's
PyTorch on the same input, and compares with the output our engine computed (max abs diff <= 1e-5).

    /usr/bin/python3 check_torchscript.py DIR
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


def main(d):
    metas = sorted(d.glob("*.json"))
    if not metas:
        print(f"no fixtures in {d}")
        return 1
    failed = 0
    for meta_path in metas:
        meta = json.loads(meta_path.read_text())
        name = meta["name"]
        model = torch.jit.load(str(d / f"{name}.pt")).eval()
        inputs = [read(d, s) for s in meta["inputs"]]
        with torch.no_grad():
            got = model(*inputs)
        got = list(got) if isinstance(got, tuple) else [got]
        want = [read(d, s) for s in meta["outputs"]]
        if len(got) != len(want):
            print(f"FAIL {name}: {len(got)} outputs, expected {len(want)}")
            failed += 1
            continue
        diff = max((g - w).abs().max().item() for g, w in zip(got, want))
        shapes_ok = all(g.shape == w.shape for g, w in zip(got, want))
        ok = shapes_ok and diff <= 1e-5
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {len(got)} output(s), max abs diff {diff:.3g}")
    print(f"{len(metas) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1])))
