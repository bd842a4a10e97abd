/* cmdline.c: command-line tokenising and the "cmdline" probe. */
#include "cmdline.h"
#include "bootinfo.h"
#include "lib.h"
#include "probe.h"

static bool cmdline_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool cmdline_token(const char *cmd, size_t *pos, const char **tok, size_t *len)
{
	size_t p = *pos, start;

	while (cmd[p] && cmdline_space(cmd[p]))
		p++;
	if (!cmd[p])
		return false;
	start = p;
	while (cmd[p] && !cmdline_space(cmd[p]))
		p++;
	*tok = cmd + start;
	*len = p - start;
	*pos = p;
	return true;
}

bool cmdline_next(const char *cmd, const char *key, size_t *pos, const char **val, size_t *len)
{
	size_t klen = str_len(key);
	const char *tok;
	size_t tlen;

	while (cmdline_token(cmd, pos, &tok, &tlen)) {
		if (tlen > klen && tok[klen] == '=' && memcmp(tok, key, klen) == 0) {
			*val = tok + klen + 1;
			*len = tlen - klen - 1;
			return true;
		}
	}
	return false;
}

bool cmdline_get(const char *cmd, const char *key, const char **val, size_t *len)
{
	size_t pos = 0;

	return cmdline_next(cmd, key, &pos, val, len);
}

bool cmdline_has_word(const char *cmd, const char *word)
{
	size_t pos = 0, len;
	const char *tok;

	while (cmdline_token(cmd, &pos, &tok, &len))
		if (str_eq_n(tok, len, word))
			return true;
	return false;
}

int cmdline_get_u64(const char *cmd, const char *key, bool hex, uint64_t *out)
{
	const char *val;
	size_t len;

	if (!cmdline_get(cmd, key, &val, &len))
		return 0;
	return str_parse_u64(val, len, hex, out) == 0 ? 1 : -1;
}

/* Count tokens and check that every expect_token=<t> names a token present. */
static void cmdline_check_tokens(const char *cmd, struct probe_result *r)
{
	size_t pos = 0, n = 0, len, want = 0, found = 0;
	const char *tok, *val;

	while (cmdline_token(cmd, &pos, &tok, &len))
		n++;
	pos = 0;
	while (cmdline_next(cmd, "expect_token", &pos, &val, &len)) {
		size_t p2 = 0, l2;
		const char *t2;
		bool hit = false;

		want++;
		while (!hit && cmdline_token(cmd, &p2, &t2, &l2))
			hit = l2 == len && memcmp(t2, val, len) == 0;
		if (hit)
			found++;
		else
			probe_fail(r, "missing-token=%.*s", (int)len, val);
	}
	probe_note(r, "tokens=%zu expect_token=%zu/%zu", n, found, want);
}

/*
 * "cmdline": the VMM's copy is NUL-terminated within 2048 bytes, printable
 * ASCII, and unchanged: cmdline_crc=<hex> is the CRC-32 (zlib) of every byte
 * before that token, which the host computes over the boot_args it passed
 * (the VMM may append after it, as Firecracker and QEMU do). Mandatory, so
 * the check always compares something.
 */
void cmdline_probe(struct boot_info *bi, struct probe_result *r)
{
	const char *cmd = bi->cmdline, *val;
	size_t pos = 0, len;
	uint64_t want;

	if (!bi->cmdline_present) {
		probe_fail(r, "no-command-line");
		return;
	}
	probe_note(r, "len=%lu at=0x%lx", (unsigned long)bi->cmdline_len, bi->cmdline_paddr);
	if (!bi->cmdline_nul)
		probe_fail(r, "no-NUL-within-%u-bytes", BI_CMDLINE_MAX);
	for (size_t i = 0; i < bi->cmdline_len; i++) {
		unsigned char c = (unsigned char)cmd[i];

		if (c < 0x20 || c > 0x7e) {
			probe_fail(r, "byte-0x%02x-at-%zu", c, i);
			break;
		}
	}
	if (!cmdline_next(cmd, "cmdline_crc", &pos, &val, &len)) {
		probe_fail(r, "no-cmdline_crc=");
	} else if (str_parse_u64(val, len, true, &want) != 0) {
		probe_fail(r, "bad-cmdline_crc=%.*s", (int)len, val);
	} else {
		/* pos is just past the token; its start is val minus "cmdline_crc=". */
		size_t off = (size_t)(val - cmd) - (sizeof("cmdline_crc=") - 1);
		uint32_t crc = crc32_update(0, cmd, off);

		if (crc != want)
			probe_fail(r, "crc=0x%08x-want-0x%08x-over-%zu-bytes", crc, (uint32_t)want, off);
		else
			probe_note(r, "crc=0x%08x", crc);
	}
	cmdline_check_tokens(cmd, r);
}
