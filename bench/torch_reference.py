#!/usr/bin/python3
"""PyTorch side of the benchmarks: trains the same model (built from
Perceptra's own JSON model spec, so the two definitions cannot drift) on the
same data with the same batch size, optimizer and thread count, and prints
one JSON line with throughput, accuracy and peak memory.

Run with Debian's /usr/bin/python3 (python3-torch)."""
import argparse
import gzip
import json
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FASHION = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion(root):
    xtr = read_idx(f"{root}/train-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    ytr = read_idx(f"{root}/train-labels-idx1-ubyte.gz").astype(np.int64)
    xte = read_idx(f"{root}/t10k-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    yte = read_idx(f"{root}/t10k-labels-idx1-ubyte.gz").astype(np.int64)
    mean, std = xtr.mean(), xtr.std()  # training-set statistics only
    norm = lambda x: torch.from_numpy(((x - mean) / std)[:, None, :, :].copy())
    return norm(xtr), torch.from_numpy(ytr), norm(xte), torch.from_numpy(yte)


class Residual(nn.Module):
    def __init__(self, body, shortcut, act):
        super().__init__()
        self.body, self.shortcut, self.act = body, shortcut, act

    def forward(self, x):
        y = self.body(x) + (self.shortcut(x) if self.shortcut is not None else x)
        return F.relu(y) if self.act == "relu" else y


def shape_of(layers, shape):
    # Eval mode: BatchNorm1d refuses a training batch of one value per channel.
    seq = nn.Sequential(*layers).eval()
    with torch.no_grad():
        out = tuple(seq(torch.zeros((2,) + shape)).shape[1:])
    seq.train()
    return out


def apply_init(m, scheme):
    """The spec's "init" as the engine applies it (core/nn/init.cpp); "default"
    is PyTorch's own reset_parameters(), already done."""
    if scheme == "default":
        return
    w = m.weight
    if scheme == "kaiming_normal":
        nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    elif scheme == "kaiming_uniform":
        nn.init.kaiming_uniform_(w, a=0, mode="fan_in", nonlinearity="relu")
    elif scheme == "xavier_uniform":
        nn.init.xavier_uniform_(w)
    elif scheme == "xavier_normal":
        nn.init.xavier_normal_(w)
    else:
        raise SystemExit(f"torch_reference: unknown init '{scheme}'")
    if m.bias is not None:
        nn.init.zeros_(m.bias)


def build(spec_layers, in_shape):
    """Translates Perceptra's layer list into torch modules, inferring input sizes."""
    layers, shape = [], tuple(in_shape)
    for l in spec_layers:
        t = l["type"]
        if t == "conv2d":
            k = l.get("kernel", 3)
            m = nn.Conv2d(shape[0], l["out_channels"], k, stride=l.get("stride", 1),
                          padding=l.get("padding", 0), dilation=l.get("dilation", 1),
                          groups=l.get("groups", 1), bias=l.get("bias", True))
        elif t == "linear":
            m = nn.Linear(shape[0], l["out_features"], bias=l.get("bias", True))
        elif t == "relu":
            m = nn.ReLU()
        elif t == "leaky_relu":
            m = nn.LeakyReLU(l.get("slope", 0.01))
        elif t == "gelu":
            m = nn.GELU()
        elif t == "sigmoid":
            m = nn.Sigmoid()
        elif t == "tanh":
            m = nn.Tanh()
        elif t == "maxpool2d":
            k = l.get("kernel", 2)
            m = nn.MaxPool2d(k, stride=l.get("stride", k), padding=l.get("padding", 0))
        elif t == "avgpool2d":
            k = l.get("kernel", 2)
            m = nn.AvgPool2d(k, stride=l.get("stride", k), padding=l.get("padding", 0))
        elif t == "global_avgpool":
            m = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        elif t == "flatten":
            m = nn.Flatten()
        elif t in ("batchnorm2d", "batchnorm1d"):
            cls = nn.BatchNorm2d if t == "batchnorm2d" else nn.BatchNorm1d
            m = cls(shape[0], eps=l.get("eps", 1e-5), momentum=l.get("momentum", 0.1))
        elif t == "dropout":
            m = nn.Dropout(l.get("p", 0.5))
        elif t == "residual":
            body = build(l["layers"], shape)
            out = shape_of([body], shape)
            sc = None
            if l.get("shortcut", "auto") == "projection" or out != shape:
                if len(shape) == 3:
                    # Same rule as the engine (core/nn/residual.cpp): the stride
                    # that maps the input plane onto the branch's, rounded up
                    # (7 -> 4 needs stride 2).
                    sh = -(-shape[1] // out[1])
                    sw = -(-shape[2] // out[2])
                    sc = nn.Sequential(nn.Conv2d(shape[0], out[0], 1, stride=(sh, sw), bias=False),
                                       nn.BatchNorm2d(out[0]))
                else:  # flat block: bias-free linear projection + BatchNorm1d
                    sc = nn.Sequential(nn.Linear(shape[0], out[0], bias=False),
                                       nn.BatchNorm1d(out[0]))
            m = Residual(body, sc, l.get("activation", "relu"))
        else:
            raise SystemExit(f"torch_reference: unsupported layer type '{t}'")
        if t in ("conv2d", "linear"):
            apply_init(m, l.get("init", "default"))
        layers.append(m)
        shape = shape_of(layers[-1:], shape)
    return nn.Sequential(*layers)


def blas_kind(path):
    p = path.lower()
    for key, kind in (("openblas", "openblas"), ("mkl", "mkl"), ("blis", "blis"),
                      ("atlas", "atlas"), ("/blas/libblas", "netlib"), ("refblas", "netlib")):
        if key in p:
            return kind
    return "unknown"


def libraries_in_use():
    """What this process really runs on: the BLAS and oneDNN libraries mapped
    into it (read after a Linear and a convolution ran, so lazy loads
    happened), and what PyTorch says it was built with. Debian's PyTorch
    calls whatever libblas.so.3 the alternatives system points at; netlib's
    reference BLAS there makes every Linear layer ~10x slower."""
    with torch.no_grad():
        x = torch.randn(64, 64)
        (x @ x).sum()
        F.conv2d(torch.randn(2, 4, 8, 8), torch.randn(4, 4, 3, 3)).sum()
    mapped = set()
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[-1].startswith("/"):
                mapped.add(parts[-1])
    blas = sorted(m for m in mapped
                  if any(k in os.path.basename(m).lower() for k in ("blas", "mkl_", "blis")))
    dnnl = sorted(m for m in mapped if any(k in os.path.basename(m).lower()
                                           for k in ("dnnl", "mkldnn")))
    config = torch.__config__.show()
    built = {}
    for line in config.splitlines():
        line = line.strip().lstrip("- ")
        for key in ("BLAS_INFO", "LAPACK_INFO", "USE_MKLDNN", "USE_OPENMP"):
            if line.startswith(key + "="):
                built[key] = line.split("=", 1)[1].rstrip(",")
        if "MKL-DNN" in line or "oneDNN" in line:
            built["onednn"] = line
    kinds = sorted({blas_kind(m) for m in blas})
    return {"blas_libraries": blas, "blas": ",".join(kinds) if kinds else "none mapped",
            "onednn_libraries": dnnl or ["bundled in libtorch_cpu (no separate library)"],
            "onednn_available": torch.backends.mkldnn.is_available(), "built_with": built,
            "torch_version": torch.__version__,
            "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS",
                                                  "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}}


def forward_flops(model, in_shape):
    """FLOPs of one image's forward pass through the GEMM-shaped layers
    (convolutions and Linear; 2 per multiply-add). Everything else is
    memory-bound and far smaller."""
    total = [0]

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups
            total[0] += 2 * out[0].numel() * k
        elif isinstance(m, nn.Linear):
            total[0] += 2 * m.in_features * m.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    model.eval()
    with torch.no_grad():
        model(torch.zeros((1,) + tuple(in_shape)))
    for h in handles:
        h.remove()
    model.train()
    return total[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True, help="Perceptra model spec JSON file")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-limit", type=int, default=0, help="use only the first N training images")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=FASHION)
    # Controlled comparisons (bench/README.md, "Comparing from the same start"):
    ap.add_argument("--init", metavar="FILE",
                    help="start from these parameters and buffers (float32, Perceptra's model "
                         "order, e.g. bench_train --trace DIR writes DIR/init.f32)")
    ap.add_argument("--order", metavar="FILE",
                    help="train on the samples in this order (int64 dataset indices, all epochs, "
                         "e.g. DIR/order.i64) instead of torch.randperm")
    ap.add_argument("--dump-init", metavar="FILE", help="write the initial parameters and buffers")
    ap.add_argument("--dump-order", metavar="FILE", help="write the training order (all epochs)")
    ap.add_argument("--dump-loss", metavar="FILE", help="write every step's loss (float32)")
    ap.add_argument("--dump-only", action="store_true", help="stop after writing the dumps")
    ap.add_argument("--probe", action="store_true",
                    help="print the BLAS/oneDNN in use and the model's forward FLOPs, then stop")
    ap.add_argument("--precision", choices=["f32", "bf16"], default="f32",
                    help="bf16: forward passes and losses under torch.cpu.amp.autocast(bfloat16), "
                         "as a PyTorch user on an AVX-512 BF16 CPU would run them")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    amp = lambda: torch.cpu.amp.autocast(enabled=a.precision == "bf16", dtype=torch.bfloat16)
    torch.manual_seed(a.seed)
    spec = json.load(open(a.spec))
    if a.probe:
        model = build(spec["layers"], tuple(spec["input"]))
        print(json.dumps({"libraries": libraries_in_use(), "threads": torch.get_num_threads(),
                          "forward_flops_per_image": forward_flops(model, spec["input"])}))
        return 0
    xtr, ytr, xte, yte = load_fashion(a.data)
    if a.train_limit:
        xtr, ytr = xtr[:a.train_limit], ytr[:a.train_limit]
    model = build(spec["layers"], tuple(spec["input"]))
    params = sum(p.numel() for p in model.parameters())
    # Perceptra's parameter order: each layer's parameters, then its buffers
    # (BatchNorm: weight, bias, running_mean, running_var).
    state = [t for m in model.modules() if not list(m.children())
             for t in list(m.parameters(recurse=False)) +
             [b for n, b in m.named_buffers(recurse=False) if n != "num_batches_tracked"]]
    total = sum(t.numel() for t in state)
    if a.init:
        flat = np.fromfile(a.init, dtype=np.float32)
        if flat.size != total:
            raise SystemExit(f"{a.init}: {flat.size} values, the model has {total}")
        with torch.no_grad():
            pos = 0
            for t in state:
                t.copy_(torch.from_numpy(flat[pos:pos + t.numel()]).view_as(t))
                pos += t.numel()
    if a.dump_init:
        np.concatenate([t.detach().numpy().ravel() for t in state]).astype(np.float32).tofile(a.dump_init)
    g = torch.Generator().manual_seed(a.seed)
    perms = [torch.randperm(len(xtr), generator=g) for _ in range(a.epochs)]
    if a.order:
        order = torch.from_numpy(np.fromfile(a.order, dtype=np.int64))
        if order.numel() != a.epochs * len(xtr):
            raise SystemExit(f"{a.order}: {order.numel()} indices, expected {a.epochs} epochs "
                             f"of {len(xtr)}")
        perms = list(order.view(a.epochs, len(xtr)))
    if a.dump_order:
        torch.cat(perms).numpy().astype(np.int64).tofile(a.dump_order)
    if a.dump_only:
        return 0
    losses = []
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)

    train_time, seen = 0.0, 0
    for epoch in range(a.epochs):
        model.train()
        perm = perms[epoch]
        t0 = time.perf_counter()
        for i in range(0, len(xtr), a.batch_size):
            idx = perm[i:i + a.batch_size]
            opt.zero_grad(set_to_none=True)
            with amp():
                loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            if a.dump_loss:
                losses.append(loss.item())
            seen += len(idx)
        train_time += time.perf_counter() - t0

    model.eval()
    correct = 0
    t0 = time.perf_counter()
    with torch.no_grad(), amp():
        for i in range(0, len(xte), a.batch_size):
            correct += (model(xte[i:i + a.batch_size]).argmax(1) == yte[i:i + a.batch_size]).sum().item()
    infer_time = time.perf_counter() - t0
    if a.dump_loss:
        np.asarray(losses, dtype=np.float32).tofile(a.dump_loss)
    print(json.dumps({
        "framework": "pytorch", "version": torch.__version__, "model": spec.get("name", "?"),
        "parameters": params, "batch_size": a.batch_size, "threads": torch.get_num_threads(),
        "precision": a.precision,
        "epochs": a.epochs, "train_images_per_s": seen / max(train_time, 1e-9),
        "infer_images_per_s": len(xte) / infer_time, "test_accuracy": correct / len(xte),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "blas": libraries_in_use()["blas"],
    }))


if __name__ == "__main__":
    sys.exit(main())
