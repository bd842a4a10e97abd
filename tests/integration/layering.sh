#!/usr/bin/env bash
# layering.sh: ember's files call each other in one direction only: no circle of link-time
# calls between the object files of src/, api/ and jailer/ (tests/tools/layering.py), kvm/
# includes nothing from arch/, api/ nothing from the VMM. Needs no KVM: nothing boots.
T=layering
. "$(dirname "$0")/common.bash"
CHECK=tests/tools/layering.py
command -v nm >/dev/null || { fail deps "nm (binutils) is needed"; finish; }
mapfile -t OBJS < <(find "$BUILD/obj/src" "$BUILD/obj/api" "$BUILD/obj/jailer" -name '*.o' 2>/dev/null | sort |
	while read -r o; do s=${o#"$BUILD"/obj/}; [ -f "${s%.o}.c" ] && echo "$o"; done)   # not objects of removed sources
[ "${#OBJS[@]}" -gt 40 ] || { fail build "only ${#OBJS[@]} objects under $BUILD/obj (run make)"; finish; }

# The checker itself: two objects calling each other must be reported, a chain must not.
mkdir -p "$TMP"
printf 'int b(int);\nint a(int x) { return x ? b(x - 1) : 0; }\n' >"$TMP/a.c"
printf 'int a(int);\nint b(int x) { return a(x); }\n' >"$TMP/b.c"
printf 'int c(int x) { return x; }\n' >"$TMP/c.c"
printf 'int c(int);\nint d(int x) { return c(x); }\n' >"$TMP/d.c"
for f in a b c d; do cc -c -o "$TMP/$f.o" "$TMP/$f.c" || { fail checker "cc failed"; finish; }; done
if ! out=$(python3 "$CHECK" "$TMP/a.o" "$TMP/b.o" "$TMP/c.o" "$TMP/d.o") &&
   grep -q "circle: $TMP/a.o $TMP/b.o" <<<"$out" && ! grep -q "c.o" <<<"$out"; then
	pass checker "a <-> b found, c <- d not"
else
	fail checker "did not report exactly the a/b circle: $out"
fi

if out=$(python3 "$CHECK" "${OBJS[@]}"); then
	pass no-circle "${#OBJS[@]} objects, $(python3 "$CHECK" --edges "${OBJS[@]}" | wc -l) edges"
else
	fail no-circle "$(tr '\n' ';' <<<"$out")"
fi

bad=$(grep -l '#include "arch/' src/kvm/*.[ch] 2>/dev/null)
[ -z "$bad" ] && pass kvm-no-arch "src/kvm/ includes nothing from src/arch/" ||
	fail kvm-no-arch "$bad"
bad=$(grep -l '#include "vmm' api/*.[ch] 2>/dev/null)
[ -z "$bad" ] && pass api-no-vmm "api/ includes no VMM header" || fail api-no-vmm "$bad"
rm -rf "$TMP"
finish
