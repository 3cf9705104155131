#!/usr/bin/python3
"""PyTorch's side of bench_imagenet: torchvision's resnet18 / resnet34 /
mobilenet_v2 (random weights, nothing downloads) at SIZE x SIZE on random
inputs, inference (eval mode, no_grad, batch norm's running statistics
from one training-mode forward on the batch) and one SGD training step, median
seconds of REPEATS after one warm-up, exactly as bench_imagenet times ours.
One JSON line per model with the same keys, plus the forward's FLOPs per
image (convolutions and Linear, as torch_reference.py counts them).

    torch_imagenet.py [--models resnet18,mobilenet_v2] [--size 224]
                      [--batch 16] [--threads 2] [--repeats 3] [--train]
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torchvision

from torch_reference import forward_flops


def median_seconds(repeats, f):
    f()  # warm-up: oneDNN primitive creation, allocator growth
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def calibrate_batchnorm(model, x):
    """Every BatchNorm's running statistics from one training-mode forward
    on x (momentum None: a plain average, here of that one batch), as
    bench_imagenet does: with the initial ones (mean 0, variance 1) eval mode
    does not normalise, and MobileNetV2's activations shrink to ~1e-8 with
    logits that no longer depend on the input."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.momentum = None
        bn.reset_running_stats()
    model.train()
    with torch.no_grad():
        model(x)
    for bn in bns:
        bn.momentum = 0.1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet18,mobilenet_v2")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--precision", choices=["f32", "bf16"], default="f32",
                    help="bf16: forward passes and losses under torch.cpu.amp.autocast(bfloat16)")
    a = ap.parse_args()
    amp = lambda: torch.cpu.amp.autocast(enabled=a.precision == "bf16", dtype=torch.bfloat16)
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    for name in a.models.split(","):
        model = getattr(torchvision.models, name.replace("-", "_"))(num_classes=1000)
        x = torch.randn(a.batch, 3, a.size, a.size)
        flops = forward_flops(model, (3, a.size, a.size))
        calibrate_batchnorm(model, x)
        model.eval()

        def infer():
            with torch.no_grad(), amp():
                model(x)

        r = {"model": name, "input": [3, a.size, a.size], "batch": a.batch, "threads": a.threads,
             "torch_version": torch.__version__, "precision": a.precision,
             "parameters": sum(p.numel() for p in model.parameters()),
             "forward_flops_per_image": flops,
             "infer_images_per_s": a.batch / median_seconds(a.repeats, infer)}
        if a.train:
            model.train()
            y = torch.arange(a.batch) % 1000
            opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            loss_fn = torch.nn.CrossEntropyLoss()

            use_amp = a.precision == "bf16"

            def step():
                opt.zero_grad(set_to_none=True)
                with torch.cpu.amp.autocast(enabled=use_amp, dtype=torch.bfloat16):
                    loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()

            try:
                step()
            except RuntimeError as e:  # PyTorch 1.13: no bf16 backward for ReLU6 (hardtanh) on the CPU
                use_amp = False
                r["train_precision"] = "f32"
                r["train_bf16_error"] = str(e).splitlines()[0]
            r["train_images_per_s"] = a.batch / median_seconds(a.repeats, step)
        r["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
