#!/usr/bin/env bash
# Installs everything afmpeg needs on a Debian 12 (bookworm) machine, from Debian's own packages.
# Idempotent: packages already present are left alone. Needs root (or sudo).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Build toolchain for the guest (wasm32-wasi) and the host compiler. wasm2c itself is Debian 13's,
# fetched into the cache by module/wabt.sh (it says why); the SIMD code it writes needs simde.
# meson and ninja build the guest libraries that have no other build system (dav1d, harfbuzz, ...).
PKGS_MODULE="clang-19 lld-19 llvm-19 wasi-libc libclang-rt-19-dev-wasm32 libc++-19-dev-wasm32
  libc++abi-19-dev-wasm32 libsimde-dev debian-archive-keyring gcc make dpkg-dev python3
  pkg-config meson ninja-build"
# Tests: Debian's native ffmpeg makes test media and is the reference for decode parity; g++
# compiles the kernel checks (tests/unit/kernels.sh) and the native openh264 of the FATE tree; cmocka
# is the test library (its summary lines are what CI reads); valgrind for the leak tier;
# libclang-rt-19-dev has clang-19's libFuzzer and sanitizer runtimes for the fuzz target; the -dev
# packages of the guest libraries (Debian's builds of the same sources) are what the native no-asm
# builds beside the module link (tests/fate/tree.sh, bench/native-noasm.sh); Debian's AMR encoder
# libraries make the corpus's AMR files (tests/corpus/amrenc.c: its ffmpeg has no AMR encoder);
# musl's libm is the guest's, which the corpus test gives native ffmpeg (tests/corpus/guestlibm.c);
# libtiff-tools' tiffcp makes the corpus's LZMA-compressed TIFF (FFmpeg's encoder cannot);
# nats-server is the JetStream server of the worker tests; hey and h2load (nghttp2-client) load
# the service in tests/serve/load.sh and bench/serve.sh.
PKGS_TEST="ffmpeg g++ libcmocka-dev valgrind libclang-rt-19-dev
  libvorbis-dev libopus-dev libmp3lame-dev libwebp-dev libdav1d-dev libvpx-dev libfreetype-dev
  libfribidi-dev libass-dev libbz2-dev liblzma-dev libopencore-amrnb-dev libvo-amrwbenc-dev musl
  libtiff-tools nats-server hey nghttp2-client"
# jansson: the JSON parser for ffprobe's output (probe) and the CLI's --json (docs/dependencies.md).
# libssl-dev: libcrypto's SHA-256 for modules loaded from .wasm (lib/module, docs/modules.md).
# libmicrohttpd and libcurl: afmpeg serve's HTTP server and its transfers; libnats: the
# worker's JetStream client (docs/dependencies.md).
PKGS_LIB="libjansson-dev libssl-dev libmicrohttpd-dev libcurl4-openssl-dev libnats-dev"
# scdoc builds the man pages afmpeg(1) and afmpeg(3) from docs/man/*.scd; man-db renders them in
# tests/install/run.sh (docs/dependencies.md).
PKGS_DOC="scdoc man-db"

need=()
for p in $PKGS_MODULE $PKGS_TEST $PKGS_LIB $PKGS_DOC; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done

# Source packages come through deb-src entries for the machine's own mirror.
have_src() { grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; }

updated=0
if ! have_src; then
  "$(dirname "$0")/add-deb-src.sh"
  updated=1
fi
if [ ${#need[@]} -gt 0 ] || [ "$updated" = 1 ]; then
  $SUDO apt-get update -qq
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "install-deps: installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
echo "install-deps: ok"
