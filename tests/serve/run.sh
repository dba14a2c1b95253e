#!/usr/bin/env bash
# Tests of `afmpeg serve`, the synchronous HTTP service: private servers on ephemeral ports of
# 127.0.0.1, driven by tests/serve/test_serve.py, their outputs read back with Debian's ffprobe
# and ffmpeg. AFMPEG_CLI names the program (default build/afmpeg).
exec "$(dirname "$0")/py.sh" test_serve.py 240
