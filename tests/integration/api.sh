#!/usr/bin/env bash
# api.sh: Firecracker's REST API against ember, checked by tests/integration/api_test.py
# (every endpoint, refusals, Swagger validation of every answer, the HTTP layer).
T=api
. "$(dirname "$0")/common.bash"
need_ember
# Firecracker's contract lives in shared/ beside the checkout (CI clones it there).
if [ -z "${SWAGGER:-}" ]; then
	d=$(cd "$(dirname "$0")/../.." && pwd)
	while [ "$d" != / ] && [ ! -f "$d/shared/reference/firecracker-api-v1.16.1.yaml" ]; do
		d=$(dirname "$d")
	done
	SWAGGER=$d/shared/reference/firecracker-api-v1.16.1.yaml
fi
if [ ! -f "$SWAGGER" ]; then
	fail contract "Firecracker's Swagger file (shared/reference/firecracker-api-v1.16.1.yaml) not found beside the checkout; set SWAGGER"
	finish
fi
if ! /usr/bin/python3 -c 'import yaml, jsonschema' 2>/dev/null; then
	fail deps "python3-yaml and python3-jsonschema are needed (make deps-test installs them)"
	finish
fi
timeout 300 /usr/bin/python3 "$(dirname "$0")/api_test.py" "$EMBER" "$GUEST_DIR/guest.elf" "$SWAGGER" "$TMP"
