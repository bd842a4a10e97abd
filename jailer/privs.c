/* privs.c: the last step before exec: drop groups, gid, uid and every capability set, then no_new_privs. */
#include "jail.h"

#include <cap-ng.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int jail_priv_err(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int jail_priv_err(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Check the result with the kernel's own interfaces rather than libcap-ng's
 * view of it (minijail does the same): a library quirk must not leave a
 * capability behind unnoticed. No /proc here: we are already chrooted.
 */
static int jail_priv_verify(uid_t uid, gid_t gid, char *err, size_t len)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	int cap, i;

	if (getresuid(&ru, &eu, &su) < 0 || ru != uid || eu != uid || su != uid)
		return jail_priv_err(err, len, "uids are not all %u", (unsigned)uid);
	if (getresgid(&rg, &eg, &sg) < 0 || rg != gid || eg != gid || sg != gid)
		return jail_priv_err(err, len, "gids are not all %u", (unsigned)gid);
	if (getgroups(0, NULL) != 0)
		return jail_priv_err(err, len, "supplementary groups remain");
	if (syscall(SYS_capget, &hdr, data) < 0)
		return jail_priv_err(err, len, "capget: %s", strerror(errno));
	for (i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		if (data[i].effective || data[i].permitted || data[i].inheritable)
			return jail_priv_err(err, len, "effective/permitted/inheritable caps remain");
	}
	/* PR_CAPBSET_READ fails with EINVAL past the kernel's last capability. */
	for (cap = 0; cap < 64; cap++) {
		int in_bnd = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);

		if (in_bnd < 0)
			break;
		if (in_bnd)
			return jail_priv_err(err, len, "capability %d remains in the bounding set", cap);
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) > 0)
			return jail_priv_err(err, len, "capability %d remains in the ambient set", cap);
	}
	return 0;
}

int jail_drop_privileges(uid_t uid, gid_t gid, char *err, size_t len)
{
	capng_clear(CAPNG_SELECT_ALL);
	/* The bounding set first: dropping from it needs CAP_SETPCAP, which setresuid() removes. */
	if (capng_apply(CAPNG_SELECT_BOUNDS) < 0)
		return jail_priv_err(err, len, "clear the capability bounding set: %s",
				     strerror(errno));
	if (capng_apply(CAPNG_SELECT_AMBIENT) < 0)
		return jail_priv_err(err, len, "clear the ambient capabilities: %s", strerror(errno));
	/* Without keep-caps, moving every uid off 0 makes the kernel clear permitted and effective. */
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return jail_priv_err(err, len, "PR_SET_KEEPCAPS: %s", strerror(errno));
	if (setgroups(0, NULL) < 0)
		return jail_priv_err(err, len, "setgroups(0): %s", strerror(errno));
	if (setresgid(gid, gid, gid) < 0)
		return jail_priv_err(err, len, "setresgid(%u): %s", (unsigned)gid, strerror(errno));
	if (setresuid(uid, uid, uid) < 0)
		return jail_priv_err(err, len, "setresuid(%u): %s", (unsigned)uid, strerror(errno));
	/* And explicitly, for --uid 0 where the kernel keeps them, and for the inheritable set. */
	if (capng_apply(CAPNG_SELECT_CAPS) < 0)
		return jail_priv_err(err, len, "clear the capability sets: %s", strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return jail_priv_err(err, len, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	return jail_priv_verify(uid, gid, err, len);
}
