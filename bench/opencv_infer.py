#!/usr/bin/python3
"""OpenCV DNN side of bench/run: runs an exported model (perceptra's ONNX,
normalisation inside the graph) over the test images with OpenCV's own CPU
backend and prints one JSON line in bench_train's format. Only forward() is
timed.

    bench/opencv_infer.py --model M.onnx --images F.f32 --labels F.u8 --shape C,H,W
                          [--batch-size 128] [--threads 2] [--save-logits F.f32]
--save-logits writes every image's output row (float32), for bench/run to
hold against our engine's.
"""
import argparse
import json
import resource
import sys
import time

import cv2
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--images", required=True, help="float32 [N, C, H, W] pixels in [0,1]")
    ap.add_argument("--labels", required=True, help="one byte per image")
    ap.add_argument("--shape", required=True, help="C,H,W")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save-logits", help="float32 output rows of every image")
    a = ap.parse_args()

    shape = tuple(int(v) for v in a.shape.split(","))
    labels = np.fromfile(a.labels, dtype=np.uint8)
    images = np.fromfile(a.images, dtype=np.float32)
    if len(shape) != 3 or images.size != labels.size * np.prod(shape):
        sys.exit(f"opencv_infer: {a.images}: {images.size} floats, expected {labels.size} "
                 f"images of {shape}")
    images = images.reshape((labels.size,) + shape)
    cv2.setNumThreads(a.threads)
    net = cv2.dnn.readNetFromONNX(a.model)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    net.setInput(images[:a.batch_size])
    net.forward()  # warm-up (allocations, layer set-up)
    seconds, correct = 0.0, 0
    saved = []
    for s in range(0, labels.size, a.batch_size):
        x = np.ascontiguousarray(images[s:s + a.batch_size])
        net.setInput(x)
        t0 = time.perf_counter()
        out = net.forward()
        seconds += time.perf_counter() - t0
        if a.save_logits:
            saved.append(np.array(out, dtype=np.float32).reshape(-1))
        correct += int((out.reshape(len(x), -1).argmax(1) == labels[s:s + len(x)]).sum())
    if a.save_logits:
        np.concatenate(saved).tofile(a.save_logits)
    print(json.dumps({
        "framework": "opencv-dnn", "version": cv2.__version__, "batch_size": a.batch_size,
        "threads": cv2.getNumThreads(), "infer_images_per_s": labels.size / seconds,
        "test_accuracy": correct / labels.size,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }))


if __name__ == "__main__":
    sys.exit(main())
