#!/usr/bin/env bash
# Scale-out tests of `afmpeg worker` and `afmpeg serve --nats` (tests/serve/scale.py): a
# JetStream server (nats-server -js, file storage) in a scratch directory, a gateway and workers,
# all on ephemeral ports of 127.0.0.1, killed on exit. AFMPEG_CLI names the program (default
# build/afmpeg); AFMPEG_SCALE_KEEP=1 keeps the scratch directory and its logs.
exec "$(dirname "$0")/py.sh" scale.py 300 nats-server
