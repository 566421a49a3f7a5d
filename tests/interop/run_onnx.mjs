// Runs every ONNX file our exporter wrote in DIR through ONNX Runtime (the npm package
// onnxruntime-node, CPU) and compares its outputs with our engine's, from the fixtures beside
// each model (NAME.json from export_fixtures: inputs and our outputs as raw arrays).
//
//     node tests/interop/run_onnx.mjs DIR ORT_DIR
//
// ORT_DIR holds node_modules/onnxruntime-node (scripts/setup.sh installs it). Prints one line per
// model and "N passed, N failed"; exits 1 on any failure.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const [dir, ortDir] = process.argv.slice(2);
const ort = createRequire(path.join(path.resolve(ortDir), 'package.json'))('onnxruntime-node');

// Our ONNX graphs decompose some ops (attention, RMS norm, GELU) differently from ATen, so they
// agree to float rounding, not bit for bit: within 1e-4 of the outputs' scale (their largest
// magnitude, at least 1; the same bound as tests/python/check_onnx.py).
const TOLERANCE = 1e-4;

function read(spec) {
  const bytes = fs.readFileSync(path.join(dir, spec.file));
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  if (spec.dtype === 'int64') return new ort.Tensor('int64', new BigInt64Array(buf), spec.shape);
  return new ort.Tensor('float32', new Float32Array(buf), spec.shape);
}

let passed = 0, failed = 0;
for (const name of fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  const meta = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
  if (!meta.onnx) continue;  // refused (MoE, recurrences): export_fixtures says why
  let line;
  try {
    const session = await ort.InferenceSession.create(path.join(dir, meta.onnx));
    const feeds = {};
    session.inputNames.forEach((n, k) => (feeds[n] = read(meta.inputs[k])));
    const got = await session.run(feeds);
    let diff = 0, scale = 1, problem = '';
    session.outputNames.forEach((n, k) => {
      const want = read(meta.outputs[k]), g = got[n];
      if (g.dims.join(',') !== want.dims.join(',')) problem = `output ${k}: shape [${g.dims}], expected [${want.dims}]`;
      for (let i = 0; i < g.data.length && !problem; ++i) {
        diff = Math.max(diff, Math.abs(Number(g.data[i]) - Number(want.data[i])));
        scale = Math.max(scale, Math.abs(Number(want.data[i])));
      }
    });
    if (session.outputNames.length !== meta.outputs.length) problem = `${session.outputNames.length} outputs, expected ${meta.outputs.length}`;
    const ok = !problem && diff <= TOLERANCE * scale;
    const measured = `max abs diff ${diff.toExponential(2)}` + (scale > 1 ? ` (scale ${scale.toPrecision(3)})` : '');
    line = `${ok ? 'ok  ' : 'FAIL'} ${meta.onnx}: ${problem || measured}`;
    ok ? ++passed : ++failed;
  } catch (e) {
    line = `FAIL ${meta.onnx}: ${String(e.message || e).split('\n')[0]}`;
    ++failed;
  }
  console.log(line);
}
if (passed + failed === 0) {
  console.log(`no fixture in ${dir} names an ONNX file`);
  process.exit(1);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
