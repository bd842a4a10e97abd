#!/usr/bin/env bash
# mmds_api.sh: the MMDS API without a guest: PUT/PATCH/GET /mmds (merge patch, size limit),
# PUT /mmds/config's checks, GET /vm/config's mmds-config, the config file's mmds-config,
# --metadata and --mmds-size-limit, and a store larger than the API's usual 64 KiB answer.
# Needs no /dev/kvm: nothing boots. The interface is a tap ember opens (root); without one
# the checks that need it are skipped.
T=mmds_api
. "$(dirname "$0")/common.bash"
[ -x "$EMBER" ] || { fail build "$EMBER missing (run make)"; finish; }
command -v curl >/dev/null || { fail deps "curl is not installed"; finish; }
SOCK=$TMP/api.sock
"$EMBER" --api-sock "$SOCK" --mmds-size-limit 200 </dev/null >"$TMP/out" 2>&1 &
pid=$!
trap 'kill -9 $pid 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.02; done

# call METHOD PATH [BODY]: sets CODE and BODY.
call() {
	local out
	out=$(curl -s -w '\n%{http_code}' -X "$1" --unix-socket "$SOCK" ${3:+--data "$3"} "http://localhost$2")
	CODE=${out##*$'\n'}
	BODY=${out%$'\n'*}
}
# expect NAME METHOD PATH BODY CODE [WANT]: the answer has CODE and, if given, the body WANT.
expect() {
	call "$2" "$3" "$4"
	if [ "$CODE" != "$5" ] || { [ -n "${6:-}" ] && [ "$BODY" != "$6" ]; }; then
		fail "$1" "$2 $3: $CODE $BODY (want $5 ${6:-})"
	else
		pass "$1"
	fi
}

expect get-empty GET /mmds "" 200 '{}'
expect patch-before-put PATCH /mmds '{"a":1}' 400 '{"fault_message":"The MMDS data store is not initialized."}'
expect put PUT /mmds '{"latest": {"meta-data": {"ami-id": "ami-1"}}, "b": 1, "l": [1, "x"]}' 204
expect get-sorted GET /mmds "" 200 '{"b":1,"l":[1,"x"],"latest":{"meta-data":{"ami-id":"ami-1"}}}'
expect merge-patch PATCH /mmds '{"b": null, "l": "flat", "latest": {"meta-data": {"x": "y"}}}' 204
expect get-merged GET /mmds "" 200 '{"l":"flat","latest":{"meta-data":{"ami-id":"ami-1","x":"y"}}}'
big=$(printf 'x%.0s' $(seq 200))
expect put-too-big PUT /mmds "{\"a\":\"$big\"}" 413 '{"fault_message":"The MMDS patch request doesn'"'"'t fit."}'
expect patch-too-big PATCH /mmds "{\"a\":\"$big\"}" 413
expect put-not-json PUT /mmds '{"a":' 400
expect put-not-object PUT /mmds '[1,2]' 400
expect unchanged GET /mmds "" 200 '{"l":"flat","latest":{"meta-data":{"ami-id":"ami-1","x":"y"}}}'

expect config-no-iface PUT /mmds/config '{"network_interfaces": ["eth0"]}' 400 \
	'{"fault_message":"The list of network interface IDs provided contains at least one ID that does not correspond to any existing network interface."}'
expect config-empty PUT /mmds/config '{"network_interfaces": []}' 400 \
	'{"fault_message":"The list of network interface IDs that allow forwarding MMDS requests is empty."}'
expect config-missing PUT /mmds/config '{"version": "V2"}' 400
expect config-version PUT /mmds/config '{"network_interfaces": ["eth0"], "version": "V3"}' 400
expect config-ip PUT /mmds/config '{"network_interfaces": ["eth0"], "ipv4_address": "10.0.0.1"}' 400 \
	'{"fault_message":"The MMDS IPv4 address is not link local."}'
expect config-ip-syntax PUT /mmds/config '{"network_interfaces": ["eth0"], "ipv4_address": "169.254.1"}' 400
expect config-unknown PUT /mmds/config '{"network_interfaces": ["eth0"], "x": 1}' 400
expect vm-config-null GET /vm/config "" 200
case $BODY in *'"mmds-config":null'*) pass vm-config-null-member ;; *) fail vm-config-null-member "$BODY" ;; esac

tap=mmds$$
tap=${tap:0:15}
call PUT /network-interfaces/eth0 "{\"iface_id\": \"eth0\", \"host_dev_name\": \"$tap\"}"
if [ "$CODE" = 204 ]; then
	expect config PUT /mmds/config \
		'{"network_interfaces": ["eth0"], "version": "V2", "ipv4_address": "169.254.170.2", "imds_compat": true}' 204
	call GET /vm/config
	case $BODY in
	*'"mmds-config":{"version":"V2","imds_compat":true,"network_interfaces":["eth0"],"ipv4_address":"169.254.170.2"}'*)
		pass vm-config-mmds ;;
	*) fail vm-config-mmds "$BODY" ;;
	esac
else
	skip config "no tap for the interface ($CODE $BODY)"
fi
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null

# The config file's mmds-config is read (and checked) before anything boots.
printf '{"boot-source": {"kernel_image_path": "/nonexistent"}, "mmds-config": {"network_interfaces": ["eth9"]}}\n' >"$TMP/bad.json"
run_ember "$TMP/bad.out" 10 --no-api --config-file "$TMP/bad.json"
if [ "$RC" -eq 152 ] && grep -q "does not correspond to any existing network interface" "$TMP/bad.out"; then
	pass file-mmds-config-checked
else
	fail file-mmds-config-checked "exit $RC: $(tail -2 "$TMP/bad.out" | tr '\n' ' ')"
fi
printf '{"boot-source": {"kernel_image_path": "/nonexistent"}, "mmds-config": {"network_interfaces": []}}\n' >"$TMP/empty.json"
run_ember "$TMP/empty.out" 10 --no-api --config-file "$TMP/empty.json"
if [ "$RC" -eq 152 ] && grep -q "mmds-config: The list of network interface IDs that allow forwarding MMDS requests is empty" "$TMP/empty.out"; then
	pass file-mmds-config-parsed
else
	fail file-mmds-config-parsed "exit $RC: $(tail -2 "$TMP/empty.out" | tr '\n' ' ')"
fi
# --metadata: the store's first contents; a bad file stops ember before it serves.
printf '{"latest": {"user-data": "hi"}}' >"$TMP/meta.json"
SOCK=$TMP/api2.sock
"$EMBER" --api-sock "$SOCK" --metadata "$TMP/meta.json" </dev/null >"$TMP/out2" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.02; done
expect metadata GET /mmds "" 200 '{"latest":{"user-data":"hi"}}'
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
printf '[1]' >"$TMP/badmeta.json"
run_ember "$TMP/badmeta.out" 10 --api-sock "$TMP/api3.sock" --metadata "$TMP/badmeta.json"
[ "$RC" -eq 152 ] && grep -q "Invalid metadata file" "$TMP/badmeta.out" && pass metadata-refused ||
	fail metadata-refused "exit $RC: $(tail -1 "$TMP/badmeta.out")"
run_ember "$TMP/limit.out" 10 --mmds-size-limit 0 --no-api --config-file "$TMP/empty.json"
[ "$RC" -eq 153 ] && pass cli-size-limit-checked || fail cli-size-limit-checked "exit $RC"
# A store larger than the API's usual answer (64 KiB): GET /mmds returns it whole, and the same
# keep-alive connection then answers the next request.
SOCK=$TMP/api4.sock
"$EMBER" --api-sock "$SOCK" --http-api-max-payload-size 1048576 </dev/null >"$TMP/out4" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.02; done
WHY=$(timeout 30 python3 - "$SOCK" <<'PY'
import json, socket, sys
store = {"k%04d" % i: "v" * 200 + str(i) for i in range(2000)}   # about 430 KiB as JSON
body = json.dumps(store).encode()
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rb")
def ask(method, data=b""):
    s.sendall(b"%s /mmds HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (method, len(data)) + data)
    status = int(f.readline().split()[1])
    n = 0
    while True:
        line = f.readline().strip()
        if not line:
            break
        k, _, v = line.partition(b":")
        if k.lower() == b"content-length":
            n = int(v)
    return status, f.read(n)
st, _ = ask(b"PUT", body)
if st != 204:
    sys.exit(print("PUT answered %d" % st))
st, got = ask(b"GET")
if st != 200 or json.loads(got) != store:
    sys.exit(print("GET answered %d with %d bytes, not the %d-byte store" % (st, len(got), len(body))))
st, got = ask(b"GET")
if st != 200 or len(got) < 65536:
    sys.exit(print("the second GET on the connection answered %d with %d bytes" % (st, len(got))))
print("ok %d" % len(got))
PY
)
case $WHY in ok*) pass get-large-store "${WHY#ok }-byte store, twice on one connection" ;; *) fail get-large-store "$WHY" ;; esac
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
finish
