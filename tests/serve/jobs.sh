#!/usr/bin/env bash
# afmpeg serve's asynchronous jobs (tests/serve/jobs.py). Ends with "N passed, N failed".
exec python3 "$(dirname "$0")/jobs.py"
