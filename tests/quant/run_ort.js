// Runs an ONNX model with ONNX Runtime (npm onnxruntime-node, CPU) on a raw
// float32 NCHW batch and writes the first output as raw float32:
//   node run_ort.js MODEL.onnx INPUT.f32 N C H W OUTPUT.f32
// NODE_PATH points at the node_modules holding onnxruntime-node.
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, input, n, c, h, w, output] = process.argv.slice(2);
  const dims = [n, c, h, w].map(Number);
  const bytes = fs.readFileSync(input);
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const session = await ort.InferenceSession.create(model, {graphOptimizationLevel: 'all'});
  const feeds = {};
  feeds[session.inputNames[0]] = new ort.Tensor('float32', Float32Array.from(data), dims);
  const result = await session.run(feeds);
  const out = result[session.outputNames[0]].data;
  fs.writeFileSync(output, Buffer.from(out.buffer, out.byteOffset, out.byteLength));
}
main().catch((e) => { console.error(String(e)); process.exit(1); });
