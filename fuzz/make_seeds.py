#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/ (small, valid inputs of each format,
plus a few near-misses). Deterministic; rerun after changing a format."""
import gzip, json, os, struct, zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gz(b):
    return gzip.compress(b, mtime=0)


def pad4(b):
    return b + b"\0" * (-len(b) % 4)


# IDX: first byte = length of the images part / 4.
def idx_pair(n, h, w, images_gz=False):
    images = struct.pack(">IIII", 0x803, n, h, w) + bytes((i * 37) % 256 for i in range(n * h * w))
    labels = struct.pack(">II", 0x801, n) + bytes(i % 3 for i in range(n))
    if images_gz:
        images = pad4(gz(images))
    images = pad4(images)
    return bytes([len(images) // 4]) + images + labels


put("fuzz_idx", "tiny", idx_pair(2, 2, 2))
put("fuzz_idx", "gzip", idx_pair(3, 4, 4, images_gz=True))
put("fuzz_idx", "empty", idx_pair(0, 2, 2))

rec = bytes([1]) + bytes((i * 7) % 256 for i in range(3072))
put("fuzz_cifar", "one", rec)
put("fuzz_cifar", "two", rec + bytes([9]) + rec[1:])
put("fuzz_cifar", "gzip", gz(rec))
put("fuzz_cifar", "truncated", rec[:100])


def container(header, payload, kind=1):
    h = json.dumps(header).encode()
    body = b"PRCPTRA\0" + struct.pack("<IIQQ", 1, kind, len(h), len(payload)) + h + payload
    return body + struct.pack("<I", zlib.crc32(body))


def floats(n, v=0.01):
    return struct.pack("<%df" % n, *([v] * n))


mlp = {"input": [1, 2, 2], "classes": 2,
       "layers": [{"type": "flatten"}, {"type": "linear", "out_features": 2}]}
tensors = [{"name": "fc1.weight", "section": "weights", "shape": [2, 4]},
           {"name": "fc1.bias", "section": "weights", "shape": [2]}]
meta = {"class_names": ["a", "b"], "normalization": {"mean": [0.5], "std": [0.25]}}
model = container({"spec": mlp, "meta": meta, "tensors": tensors}, floats(10))
put("fuzz_model_file", "model", model)
ck_header = {"spec": mlp, "meta": meta, "tensors": tensors + [
    {"name": "fc1.weight.momentum", "section": "optimizer", "shape": [2, 4]},
    {"name": "fc1.bias.momentum", "section": "optimizer", "shape": [2]},
    {"name": "optimizer.step", "section": "optimizer", "shape": [1]}],
    "state": {"epoch": 1, "step": 3, "rng": {}, "trainer": {"batch": 1}},
    "optimizer": {"lr": 0.1, "momentum": 0.9, "step_count": 3, "lr_scales": [1.0]},
    "dropout": []}
put("fuzz_model_file", "checkpoint", container(ck_header, floats(21), kind=2))
# Wrapped form (first byte odd): kind byte, header JSON, NUL, payload.
put("fuzz_model_file", "wrapped-model",
    b"\x01\x00" + json.dumps({"spec": mlp, "meta": meta, "tensors": tensors}).encode() + b"\0" + floats(10))
put("fuzz_model_file", "wrapped-checkpoint",
    b"\x03\x02" + json.dumps(ck_header).encode() + b"\0" + floats(21))

conv = {"input": [3, 8, 8], "classes": 4, "layers": [
    {"type": "conv2d", "out_channels": 4, "kernel": 3, "padding": 1, "stride": [1, 2], "dilation": 1},
    {"type": "batchnorm2d"}, {"type": "relu"}, {"type": "maxpool2d", "kernel": 2},
    {"type": "residual", "layers": [{"type": "conv2d", "out_channels": 8, "kernel": 3, "padding": 1},
                                    {"type": "batchnorm2d"}], "shortcut": "projection"},
    {"type": "avgpool2d", "kernel": 2, "padding": 1}, {"type": "global_avgpool"},
    {"type": "dropout", "p": 0.2}, {"type": "linear", "out_features": 4, "init": "xavier_uniform"}]}
put("fuzz_spec_json", "mlp", json.dumps(mlp).encode())
put("fuzz_spec_json", "conv", json.dumps(conv).encode())
flat = {"input": [6], "classes": 3, "layers": [
    {"type": "linear", "out_features": 6}, {"type": "leaky_relu", "slope": 0.1},
    {"type": "residual", "layers": [{"type": "residual", "layers": [{"type": "gelu"}]},
                                    {"type": "batchnorm1d"}, {"type": "tanh"}]},
    {"type": "sigmoid"}, {"type": "linear", "out_features": 3, "bias": False}]}
put("fuzz_spec_json", "nested", json.dumps(flat).encode())


def pgm(w, h):
    return b"P5\n%d %d\n255\n" % (w, h) + bytes((i * 13) % 256 for i in range(w * h))


def png(w, h):
    raw = b"".join(b"\0" + bytes((x * 30 + y * 5) % 256 for x in range(w * 3)) for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def record(cls, name, content):
    return bytes([cls, len(name)]) + name + struct.pack("<H", len(content)) + content


put("fuzz_image_folder", "two-classes",
    record(0, b"a.pgm", pgm(4, 4)) + record(1, b"b.png", png(3, 5)) + record(1, b"c.pgm", pgm(4, 4)))
put("fuzz_image_folder", "auto-size",
    b"\x80" + record(1, b"x.png", png(6, 2))[1:] + record(0, b"y.pgm", pgm(2, 2)))
put("fuzz_image_folder", "bad-image",
    record(0, b"ok.pgm", pgm(2, 2)) + record(1, b"bad.png", b"\x89PNG\r\n\x1a\nxx") +
    record(1, b"caf\xe9.pgm", pgm(2, 2)))


# Import formats (.pth, data.pkl, .safetensors, ONNX): need /usr/bin/python3
# with torch and onnx; skipped (the committed seeds stay) without them.
def import_seeds():
    try:
        import io, zipfile
        from collections import OrderedDict
        import torch
    except ImportError:
        print("make_seeds: no torch; import seeds left as they are")
        return
    torch.manual_seed(0)

    def saved(obj):
        buf = io.BytesIO()
        torch.save(obj, buf)
        return buf.getvalue()

    def pickle_of(pth):
        with zipfile.ZipFile(io.BytesIO(pth)) as z:
            name = next(n for n in z.namelist() if n.endswith("/data.pkl"))
            return z.read(name)

    sd = OrderedDict([("fc.weight", torch.randn(2, 3)), ("fc.bias", torch.zeros(2)),
                      ("bn.running_mean", torch.zeros(3, dtype=torch.float16)),
                      ("bn.num_batches_tracked", torch.tensor(5))])
    plain = saved(sd)
    ckpt = saved({"epoch": 3, "state_dict": OrderedDict([("w", torch.arange(6.0).reshape(2, 3).t())])})
    put("fuzz_torch_pth", "state-dict", plain)
    put("fuzz_torch_pth", "checkpoint", ckpt)
    put("fuzz_torch_pickle", "state-dict", pickle_of(plain))
    put("fuzz_torch_pickle", "checkpoint", pickle_of(ckpt))
    # Wrapped form (first byte odd): data.pkl, NUL, the bytes of storage "0".
    one = OrderedDict([("fc.weight", torch.arange(8.0).reshape(2, 4)),
                       ("fc.bias", torch.ones(2, dtype=torch.float64))])
    one_pkl = pickle_of(saved(OrderedDict([("fc.weight", one["fc.weight"])])))
    put("fuzz_torch_pth", "wrapped", b"\x01" + one_pkl + b"\0" + one["fc.weight"].numpy().tobytes())
    put("fuzz_torch_pickle", "two-storages", pickle_of(saved(one)))

    def safetensors(tensors):
        header, data = {"__metadata__": {"format": "pt"}}, b""
        for name, (dtype, shape, raw) in tensors.items():
            header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
            data += raw
        h = json.dumps(header).encode()
        return struct.pack("<Q", len(h)) + h + data
    put("fuzz_safetensors", "f32-f16-i64", safetensors({
        "fc.weight": ("F32", [2, 3], floats(6)), "fc.bias": ("F16", [2], b"\x00\x3c\x00\x3c"),
        "bn.num_batches_tracked": ("I64", [], struct.pack("<q", 7))}))
    put("fuzz_safetensors", "bf16-scalar", safetensors({"s": ("BF16", [1], b"\x80\x3f"),
                                                       "e": ("F64", [0], b"")}))

    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.c, self.b = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)

        def forward(self, x):
            return torch.relu(x + self.b(self.c(x)))

    def onnx_of(model, shape):
        model.eval()
        buf = io.BytesIO()
        torch.onnx.export(model, torch.randn(*shape), buf, opset_version=13)
        return buf.getvalue()
    put("fuzz_onnx", "conv-residual", onnx_of(nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), Block(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(4, 3)), (1, 1, 8, 8)))
    put("fuzz_onnx", "mlp", onnx_of(nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU6(), nn.Linear(3, 2)),
                                    (1, 1, 2, 2)))


import_seeds()
