// ONNX Runtime's predicted class for every Fashion-MNIST test image (raw
// pixels in [0,1]; the exported graph normalises), as int32 values, for
// bench_quant --ort-predictions (QDQ export vs the engine's int8):
//   NODE_PATH=.tools/onnxruntime/node_modules node bench/ort_predict.js MODEL.onnx OUT.i32
const fs = require('fs');
const zlib = require('zlib');
const ort = require('onnxruntime-node');

async function main() {
  const [model, output] = process.argv.slice(2);
  const raw = zlib.gunzipSync(
      fs.readFileSync('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz'));
  const n = raw.readUInt32BE(4), h = raw.readUInt32BE(8), w = raw.readUInt32BE(12);
  const session = await ort.InferenceSession.create(model, {graphOptimizationLevel: 'all'});
  const pred = new Int32Array(n);
  const batch = 500;
  let seconds = 0;
  for (let b = 0; b < n; b += batch) {
    const m = Math.min(batch, n - b);
    const x = new Float32Array(m * h * w);
    for (let i = 0; i < x.length; ++i) x[i] = raw[16 + b * h * w + i] / 255;
    const feeds = {};
    feeds[session.inputNames[0]] = new ort.Tensor('float32', x, [m, 1, h, w]);
    const t0 = process.hrtime.bigint();
    const out = (await session.run(feeds))[session.outputNames[0]];
    seconds += Number(process.hrtime.bigint() - t0) / 1e9;
    const c = out.dims[1];
    for (let i = 0; i < m; ++i) {
      let best = 0;
      for (let k = 1; k < c; ++k) if (out.data[i * c + k] > out.data[i * c + best]) best = k;
      pred[b + i] = best;
    }
  }
  fs.writeFileSync(output, Buffer.from(pred.buffer));
  console.error(`onnxruntime: ${n} images, ${(n / seconds).toFixed(0)} images/s`);
}
main().catch((e) => { console.error(String(e)); process.exit(1); });
