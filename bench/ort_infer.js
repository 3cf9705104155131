// ONNX Runtime side of bench/run: runs an exported model (perceptra's ONNX,
// normalisation inside the graph) over the test images with ONNX Runtime's
// CPU execution provider and prints one JSON line in bench_train's format.
//
//   node bench/ort_infer.js --ort DIR --model M.onnx --images F.f32 --labels F.u8
//                           --shape C,H,W [--batch-size 128] [--threads 2] [--spin 0|1]
//                           [--save-logits F.f32]
//
// DIR holds node_modules/onnxruntime-node (bench/run installs it there with
// `npm install --ignore-scripts onnxruntime-node`; the Linux x64 CPU library
// ships inside the package). Images: float32 [N, C, H, W] pixels in [0,1];
// labels: one byte each. Only session.run() is timed, as only our forward
// passes are on our side. --save-logits writes every image's output row
// (float32), for bench/run to hold against our engine's.
'use strict';
const fs = require('fs');
const path = require('path');

function args() {
  const a = {batchSize: 128, threads: 2, spin: '0'};
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; ++i) {
    const need = () => {
      if (i + 1 >= v.length) throw new Error(`option ${v[i]} needs a value`);
      return v[++i];
    };
    switch (v[i]) {
      case '--ort': a.ort = need(); break;
      case '--model': a.model = need(); break;
      case '--images': a.images = need(); break;
      case '--labels': a.labels = need(); break;
      case '--shape': a.shape = need().split(',').map((x) => parseInt(x, 10)); break;
      case '--batch-size': a.batchSize = parseInt(need(), 10); break;
      case '--threads': a.threads = parseInt(need(), 10); break;
      case '--spin': a.spin = need(); break;
      case '--save-logits': a.saveLogits = need(); break;
      default: throw new Error(`unknown option ${v[i]}`);
    }
  }
  for (const k of ['ort', 'model', 'images', 'labels', 'shape'])
    if (!a[k]) throw new Error(`--${k} is required`);
  if (!(a.batchSize > 0) || !(a.threads > 0)) throw new Error('--batch-size and --threads must be positive');
  return a;
}

async function main() {
  const a = args();
  const ort = require(path.resolve(a.ort, 'node_modules', 'onnxruntime-node'));
  const session = await ort.InferenceSession.create(a.model, {
    executionProviders: ['cpu'], intraOpNumThreads: a.threads, interOpNumThreads: 1,
    executionMode: 'sequential', graphOptimizationLevel: 'all',
    // Spinning worker threads: off by default, the policy our engine and
    // PyTorch (OMP_WAIT_POLICY=passive) get in bench/run (--spin 1: ORT's default).
    extra: {session: {intra_op: {allow_spinning: a.spin}}}});
  const inputName = session.inputNames[0], outputName = session.outputNames[0];
  const buf = fs.readFileSync(a.images);
  const images = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const labels = fs.readFileSync(a.labels);
  const n = labels.length;
  const per = a.shape.reduce((x, y) => x * y, 1);
  if (a.shape.length !== 3 || !(per > 0)) throw new Error('--shape must be C,H,W');
  if (images.length !== n * per)
    throw new Error(`${a.images}: ${images.length} floats, expected ${n} images of ${a.shape}`);
  const batch = (start, count) =>
    new ort.Tensor('float32', images.subarray(start * per, (start + count) * per), [count, ...a.shape]);

  await session.run({[inputName]: batch(0, Math.min(a.batchSize, n))});  // warm-up
  let seconds = 0, correct = 0;
  const saved = [];
  for (let s = 0; s < n; s += a.batchSize) {
    const count = Math.min(a.batchSize, n - s);
    const feeds = {[inputName]: batch(s, count)};
    const t0 = process.hrtime.bigint();
    const out = await session.run(feeds);
    seconds += Number(process.hrtime.bigint() - t0) / 1e9;
    const logits = out[outputName].data, classes = logits.length / count;
    if (a.saveLogits) saved.push(Buffer.from(new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength)));  // a copy
    for (let i = 0; i < count; ++i) {
      let best = 0;
      for (let c = 1; c < classes; ++c)
        if (logits[i * classes + c] > logits[i * classes + best]) best = c;
      correct += best === labels[s + i];
    }
  }
  if (a.saveLogits) fs.writeFileSync(a.saveLogits, Buffer.concat(saved));
  const version = require(path.resolve(a.ort, 'node_modules', 'onnxruntime-node', 'package.json')).version;
  console.log(JSON.stringify({
    framework: 'onnxruntime', version, batch_size: a.batchSize, threads: a.threads, spin: a.spin,
    infer_images_per_s: n / seconds, test_accuracy: correct / n,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024}));
}

main().catch((e) => {
  console.error(`ort_infer: ${e.message}`);
  process.exit(1);
});
