#!/usr/bin/env bash
# hostile_paths.sh: a path a client names that is not a regular file (a FIFO, a directory, a
# socket) is refused with a clear 400 at once; ember never blocks opening it and keeps serving.
# Needs no KVM: nothing boots.
T=hostile_paths
. "$(dirname "$0")/common.bash"
[ -x "$EMBER" ] || { fail build "$EMBER missing (run make)"; finish; }
command -v curl >/dev/null || { fail deps "curl is needed (make deps-test installs it)"; finish; }
SOCK=$TMP/api.sock
mkfifo "$TMP/fifo"
mkdir "$TMP/dir"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$TMP/unix.sock"
head -c 1048576 /dev/zero >"$TMP/disk.img"
"$EMBER" --api-sock "$SOCK" </dev/null >"$TMP/ember.log" 2>&1 &
PID=$!
trap 'kill -KILL $PID 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 500); do [ -S "$SOCK" ] && break; sleep 0.02; done

# req METHOD PATH BODY: sets ST (HTTP status, 000 when no answer in 10 s) and BODY.
req() {
	BODY=$(curl -s --max-time 10 --unix-socket "$SOCK" -X "$1" "http://localhost$2" -d "$3" \
		-w '\n%{http_code}' 2>/dev/null)
	ST=${BODY##*$'\n'}
	BODY=${BODY%$'\n'*}
}
expect() { # NAME METHOD PATH BODY WANT_TEXT
	req "$2" "$3" "$4"
	if [ "$ST" = 400 ] && grep -q "$5" <<<"$BODY"; then
		pass "$1" "$BODY"
	else
		fail "$1" "status $ST, body $BODY (wanted 400 with '$5')"
	fi
}
for kind in fifo dir unix.sock; do
	expect "drive-$kind" PUT /drives/rootfs \
		"{\"drive_id\": \"rootfs\", \"path_on_host\": \"$TMP/$kind\", \"is_root_device\": true, \"is_read_only\": true}" \
		"not a regular file or block device\|Is a directory\|No such device or address"
	expect "kernel-$kind" PUT /boot-source "{\"kernel_image_path\": \"$TMP/$kind\"}" \
		"not a regular file\|Is a directory\|No such device or address"
done
expect initrd-fifo PUT /boot-source \
	"{\"kernel_image_path\": \"$GUEST_DIR/guest.elf\", \"initrd_path\": \"$TMP/fifo\"}" "not a regular file"
# Still serving, and a good drive is taken.
req PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$TMP/disk.img\", \"is_root_device\": true, \"is_read_only\": false}"
[ "$ST" = 204 ] && pass regular-file-taken || fail regular-file-taken "status $ST: $BODY"
req GET / ""
[ "$ST" = 200 ] && pass still-serving || fail still-serving "status $ST"
finish
