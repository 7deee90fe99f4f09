"""MeliusNet-22 in PyTorch eager, the same network as lightnasc's specs/meliusnet22.lnas: binary convs with
clipped-STE sign activations, sign weights with STE, -1 padding and the (h+K)/2 offset; Adam on random
CIFAR-shaped data. Side-by-side figures on a GPU machine that has PyTorch.
usage: python3 torch_melius22.py [train|infer|conv|params] [--batch B] [--steps N] [--amp] [--compile]
Prints one JSON line, with the keys of lightnasc's `bench supernet` / `bench network` rows where they
mean the same (images_per_s, ms_per_step, first_step_s; batch, ms), so `scripts/gpu-check.sh` puts the
two side by side. `params` prints 6478884 (lightnasc check's count for the full network). Written for a
GPU machine with PyTorch and no network (this project's GPU checks); it runs on the CPU too."""
import argparse, json, time
import torch, torch.nn as nn, torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("what", choices=["train", "infer", "conv", "params"])
ap.add_argument("--batch", type=int, default=128)
ap.add_argument("--steps", type=int, default=20)
ap.add_argument("--classes", type=int, default=100)
ap.add_argument("--amp", action="store_true")
ap.add_argument("--compile", action="store_true")
a = ap.parse_args()
dev = "cuda" if torch.cuda.is_available() else "cpu"

class SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))
    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * (x.abs() <= 1).to(g.dtype)

class WSign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w):
        return torch.where(w >= 0, torch.ones_like(w), -torch.ones_like(w))
    @staticmethod
    def backward(ctx, g):
        return g

class BConv(nn.Module):
    def __init__(self, cin, cout, k, pad=0):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin, k, k).uniform_(-0.07, 0.07))
        self.pad, self.K = pad, cin * k * k
    def forward(self, x):
        x = SignSTE.apply(x)
        if self.pad:
            x = F.pad(x, (self.pad,) * 4, value=-1.0)
        return (F.conv2d(x, WSign.apply(self.weight)) + self.K) / 2

class Dense(nn.Module):
    def __init__(self, f, g, full):
        super().__init__(); self.bn = nn.BatchNorm2d(f)
        self.conv = BConv(f, g, 3, 1) if full else BConv(f, g, 1)
    def forward(self, x):
        return torch.cat([x, self.conv(self.bn(x))], 1)

class Improve(nn.Module):
    def __init__(self, f, g):
        super().__init__(); self.f, self.g = f, g
        self.bn = nn.BatchNorm2d(f); self.conv = BConv(f, g, 3, 1)
    def forward(self, x):
        y = self.conv(self.bn(x))
        return torch.cat([x[:, : self.f - self.g], x[:, self.f - self.g :] + y], 1)

def melius22(full=True, cin=3):
    layers, f = [nn.Conv2d(cin, 64, 3, 1, 1, bias=False)], 64
    for n, out in zip([4, 5, 4, 4], [160, 224, 256, None]):
        for _ in range(n):
            layers.append(Dense(f, 64, full)); f += 64
            if full: layers.append(Improve(f, 64))
        if out:
            layers += [nn.BatchNorm2d(f), nn.MaxPool2d(2, 2), nn.ReLU(), nn.Conv2d(f, out, 1, bias=False)]; f = out
    layers += [nn.BatchNorm2d(f), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(f, a.classes)]
    return nn.Sequential(*layers)

def sync():
    if dev == "cuda": torch.cuda.synchronize()

if a.what == "params":
    print(json.dumps({"trainable_params": sum(p.numel() for p in melius22().parameters() if p.requires_grad)}))
elif a.what == "train":
    net = melius22().to(dev).to(memory_format=torch.channels_last)
    step_net = torch.compile(net) if a.compile else net
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x = torch.rand(a.batch, 3, 32, 32, device=dev).to(memory_format=torch.channels_last)
    y = torch.randint(0, a.classes, (a.batch,), device=dev)
    ts, t0 = [], time.perf_counter()
    for s in range(a.steps + 3):
        sync(); t = time.perf_counter()
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=a.amp):
            loss = F.cross_entropy(step_net(x), y)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); sync()
        if s == 0: first = time.perf_counter() - t0
        if s >= 3: ts.append(time.perf_counter() - t)
    ts.sort(); med = ts[len(ts) // 2]
    print(json.dumps({"framework": f"torch-{torch.__version__}", "device": torch.cuda.get_device_name() if dev == "cuda" else "cpu",
                      "amp": a.amp, "compile": a.compile, "batch": a.batch, "median_step_s": round(med, 5),
                      "ms_per_step": round(med * 1e3, 3), "first_step_s": round(first, 3),
                      "images_per_s": round(a.batch / med, 1),
                      "peak_mem_mb": round(torch.cuda.max_memory_allocated() / 2**20) if dev == "cuda" else None}))
elif a.what == "infer":
    # Inference of the same network (eval mode, batch norms on running statistics), fp32 and fp16.
    net = melius22().to(dev).eval()
    out = []
    for b in (1, 32):
        for name, dt in (("fp32", torch.float32), ("fp16", torch.float16)):
            m = net.to(dt); x = torch.rand(b, 3, 32, 32, device=dev, dtype=dt)
            with torch.no_grad():
                for _ in range(5): m(x)
                sync(); ts = []
                for _ in range(a.steps):
                    t = time.perf_counter(); m(x); sync(); ts.append(time.perf_counter() - t)
            ts.sort(); out.append({"batch": b, "dtype": name, "ms": round(ts[len(ts) // 2] * 1e3, 4)})
    print(json.dumps({"framework": f"torch-{torch.__version__}", "device": torch.cuda.get_device_name() if dev == "cuda" else "cpu", "rows": out}))
else:
    # The shapes of the project's `bench kernels` (src/bench/kernels.rs SHAPES): 3x3, pad 1, stride 1.
    shapes = [("meliusnet22", 64, 32, 64), ("meliusnet22", 320, 32, 64), ("meliusnet22", 160, 16, 64),
              ("meliusnet22", 480, 16, 64), ("meliusnet22", 224, 8, 64), ("meliusnet22", 480, 8, 64),
              ("meliusnet22", 256, 4, 64), ("meliusnet22", 512, 4, 64), ("resnet18", 64, 32, 64),
              ("resnet18", 128, 16, 128), ("resnet18", 256, 8, 256), ("resnet18", 512, 4, 512)]
    torch.backends.cudnn.benchmark = True
    rows = []
    for net, cin, hw, cout in shapes:
        for b in (1, 8, 32, 64):
            x = torch.randn(b, cin, hw, hw, device=dev); w = torch.randn(cout, cin, 3, 3, device=dev)
            row = {"net": net, "c": cin, "hw": hw, "out": cout, "batch": b}
            for name, dt, cl in (("fp32", torch.float32, False), ("fp16", torch.float16, False), ("fp16_nhwc", torch.float16, True)):
                xx, ww = x.to(dt), w.to(dt)
                if cl:
                    xx, ww = xx.to(memory_format=torch.channels_last), ww.to(memory_format=torch.channels_last)
                for _ in range(5): F.conv2d(xx, ww, padding=1)
                sync(); ts = []
                for _ in range(a.steps):
                    t = time.perf_counter(); F.conv2d(xx, ww, padding=1); sync(); ts.append(time.perf_counter() - t)
                ts.sort(); row[name + "_ms"] = round(ts[len(ts) // 2] * 1e3, 4)
            rows.append(row)
    print(json.dumps({"framework": f"torch-{torch.__version__}", "device": torch.cuda.get_device_name() if dev == "cuda" else "cpu",
                      "cudnn": torch.backends.cudnn.version() if dev == "cuda" else None, "rows": rows}))
