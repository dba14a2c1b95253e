#!/usr/bin/env bash
# afmpeg serve's asynchronous jobs (tests/serve/jobs.py). AFMPEG_CLI names the program.
exec "$(dirname "$0")/py.sh" jobs.py 180
