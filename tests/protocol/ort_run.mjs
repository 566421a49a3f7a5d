// Runs an ONNX file through ONNX Runtime (npm's onnxruntime-node) on an input of ones and prints
// its outputs' shapes and whether every value is finite: "ok [1,10]".
//
//     node ort_run.mjs MODEL.onnx ORT_DIR D0,D1,...
import { createRequire } from 'node:module';
import path from 'node:path';

const [model, ortDir, dims] = process.argv.slice(2);
const ort = createRequire(path.join(path.resolve(ortDir), 'package.json'))('onnxruntime-node');
const shape = dims.split(',').map(Number);
const session = await ort.InferenceSession.create(model);
const input = new ort.Tensor('float32', new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1), shape);
const out = await session.run({ [session.inputNames[0]]: input });
for (const name of session.outputNames) {
  const t = out[name];
  const finite = Array.from(t.data).every(Number.isFinite);
  console.log(`${finite ? 'ok' : 'not finite'} ${name} [${t.dims.join(',')}]`);
  if (!finite) process.exit(1);
}
