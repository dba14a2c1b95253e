#!/usr/bin/env bash
# tests/fate/fast.sh — the fast FATE subset through the sandbox (run.sh --fast), as a suite for
# tests/run.sh: ends with "N passed, N failed". AFMPEG_CLI names the CLI (default build/afmpeg).
exec "$(dirname "$0")/run.sh" --fast "$@"
