"""Reference for the GPU kit: PyTorch CUDA fp32 matmul at the shapes of SparkLab's `matmul` benchmark.

TF32 is switched off so that the figure is true fp32, like SparkLab's kernels. One JSON line per case, in the
format of the Node benchmarks; exits quietly (status 3) where torch or CUDA is missing.
"""
import json
import sys
import time

try:
    import torch
except ImportError:
    sys.exit(3)
if not torch.cuda.is_available():
    sys.exit(3)

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
device = torch.device("cuda")
name = torch.cuda.get_device_name(0)
# (name, M, N, K, A stored transposed) as bench/matmul.ts
CASES = [("256", 256, 256, 256, False), ("512", 512, 512, 512, False), ("1024", 1024, 1024, 1024, False),
         ("conv", 3136, 64, 576, False), ("wgrad", 576, 64, 3136, True)]
for case, m, n, k, trans_a in CASES:
    a = torch.randn((k, m) if trans_a else (m, k), device=device)
    b = torch.randn((k, n), device=device)
    run = (lambda: a.t() @ b) if trans_a else (lambda: a @ b)
    for _ in range(5):
        run()
    torch.cuda.synchronize()
    samples = []
    for _ in range(20):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end))
    samples.sort()
    ms = samples[len(samples) // 2]
    print(json.dumps({"case": f"torch-matmul {case}", "m": m, "n": n, "k": k, "ms": round(ms, 4),
                      "gflops": round(2 * m * n * k / ms / 1e6, 1), "adapter": f"{name} (PyTorch {torch.__version__}, CUDA, fp32, TF32 off)"}))
    sys.stdout.flush()
time.sleep(0)
