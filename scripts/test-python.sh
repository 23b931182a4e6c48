#!/usr/bin/env bash
# The Python tests of `make test`, all of tests/. tests/test_wheels.py spends most of
# its time in cargo, building the release wheel from the sdist (over six minutes on
# a fresh 2-core machine), while the rest of the suite mostly waits on audio played in
# real time. So the wheel tests run beside the rest at the lowest CPU priority (nice
# 19): the suite's engines and readers are served first and the build takes what they
# leave. Their report follows the suite's. Arguments go to the suite's pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
log=$(mktemp)
nice -n 19 "$PY" -m pytest -q tests/test_wheels.py >"$log" 2>&1 &
wheels=$!
trap 'kill "$wheels" 2>/dev/null; rm -f "$log"' EXIT
"$PY" -m pytest tests -q --ignore=tests/test_wheels.py "$@"
suite=$?
wait "$wheels"
wheels_status=$?
echo "tests/test_wheels.py (run beside the rest, at nice 19):"
cat "$log"
((suite == 0)) || exit "$suite"
exit "$wheels_status"
