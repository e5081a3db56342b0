#!/usr/bin/env bash
# SparkLab GPU kit: runs SparkLab's Node benchmarks (GEMM, the whole training step per preset up to 224 px
# with sparse vs dense-masked at mask 0.6, the per-dispatch step profile, step time vs size and batch) on this machine's GPU with the Node, Dawn and Vulkan loader
# shipped in this folder, printing one JSON line per figure (stdout; progress on stderr). Needs a Linux x86-64
# host with a GPU and its Vulkan driver (NVIDIA: the driver package installs /usr/share/vulkan/icd.d/
# nvidia_icd.json). Where PyTorch with CUDA is installed it also times cuBLAS fp32 matmuls for reference.
# Every stage has a time limit; all together at most 6 minutes.
#   ./run.sh              full run
#   SPARKLAB_KIT_QUICK=1  a few seconds of each stage (checks the kit works)
#   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json ./run.sh   any other Vulkan driver, e.g. SwiftShader
set -u
KIT="$(cd "$(dirname "$0")" && pwd)"
QUICK="${SPARKLAB_KIT_QUICK:-0}"

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "This kit runs on Linux x86-64 only (this is $(uname -s) $(uname -m))." >&2
  exit 1
fi

# Node 20 ships xz-compressed (it would not fit otherwise): unpack it once, with xz or Python's lzma.
if [ ! -x "$KIT/bin/node" ]; then
  mkdir -p "$KIT/bin"
  if command -v xz >/dev/null 2>&1; then
    xz -dc "$KIT/node.xz" >"$KIT/bin/node.part"
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
      "$KIT/node.xz" "$KIT/bin/node.part"
  else
    echo "Unpacking Node needs xz or python3; install one (apt-get install xz-utils) and run again." >&2
    exit 1
  fi
  chmod +x "$KIT/bin/node.part" && mv "$KIT/bin/node.part" "$KIT/bin/node"
fi

export LD_LIBRARY_PATH="$KIT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
# Without an explicit driver, leave the Vulkan loader to find the hardware one (no SwiftShader fallback).
if [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]; then export SPARKLAB_ADAPTER=hardware; fi

if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null |
    sed 's/^\(.*\), \(.*\), \(.*\)$/{"case":"gpu","name":"\1","driver":"\2","memory":"\3"}/'
fi

stage() {
  local limit="$1"
  shift
  echo "== $* (limit ${limit} s)" >&2
  timeout "$limit" "$KIT/bin/node" "$KIT/sparklab-bench.mjs" "$@"
  local status=$?
  if [ $status -eq 124 ]; then echo "{\"case\":\"kit\",\"stage\":\"$1\",\"error\":\"time limit ${limit} s reached\"}"; fi
  if [ $status -ne 0 ] && [ $status -ne 124 ]; then echo "{\"case\":\"kit\",\"stage\":\"$1\",\"error\":\"exit status $status\"}"; fi
}

if [ "$QUICK" = "1" ]; then
  stage 120 matmul --cases 256 --iterations 1 --warmup 0
  stage 180 step --presets tiny --batch 2 --ratios 0.6 --warmup 1 --rounds 1 --steps 1
  stage 180 step --profile --presets tiny --batch 2 --ratios 0.6 --modes sparse
else
  stage 45 matmul
  stage 180 step --presets tiny,resnet-s8-32,resnet-s16-64,resnet18-128,convnext-atto-128,resnet50-224,convnext-s-224 --ratios 0.6 --warmup 2 --rounds 3 --steps 5
  stage 60 step --profile --presets tiny,resnet50-224 --ratios 0.6 --modes sparse,dense-masked
  stage 45 scaling --preset resnet18-128 --sizes 64,128,256 --batches 8,32,64 --rounds 2 --steps 3
fi

if command -v python3 >/dev/null 2>&1; then
  echo "== PyTorch CUDA fp32 matmul (if present)" >&2
  timeout 30 python3 "$KIT/torch_matmul.py" || true
fi
