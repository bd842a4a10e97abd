/* json.c: strict JSON validation, jsmn tokenising, typed field access and JSON output. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "config/json.h"

/* ---- errors ---------------------------------------------------------- */

int cfg_seterr(struct err *e, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = err_vset(e, -EINVAL, fmt, ap);
	va_end(ap);
	return r;
}

void cfg_err_prefix(struct err *e, const char *prefix)
{
	char tmp[ERR_MSG_MAX];
	size_t n, m;

	if (!e)
		return;
	/* Built by hand: a bounded copy that may cut the tail of the message. */
	n = strnlen(prefix, sizeof(tmp) - 3);
	memcpy(tmp, prefix, n);
	memcpy(tmp + n, ": ", 2);
	n += 2;
	m = strnlen(e->msg, sizeof(tmp) - n - 1);
	memcpy(tmp + n, e->msg, m);
	tmp[n + m] = '\0';
	memcpy(e->msg, tmp, sizeof(e->msg));
}

/*
 * cfgj_sanitize: a short, printable rendering of client bytes for a message
 * (the message itself travels back to the client, possibly inside JSON).
 */
static void cfgj_sanitize(const char *s, size_t n, char *out, size_t cap)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 4 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		out[o++] = (c >= 0x20 && c < 0x7f && c != '`' && c != '"' &&
			    c != '\\') ? (char)c : '?';
	}
	if (i < n && o + 4 <= cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* ---- grammar check ---------------------------------------------------- */

struct cfgj_scan {
	const unsigned char *s;
	size_t len;
	size_t pos;
	int ntok;
	const char *why;
};

static void cfgj_ws(struct cfgj_scan *sc)
{
	while (sc->pos < sc->len) {
		unsigned char c = sc->s[sc->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		sc->pos++;
	}
}

static int cfgj_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* cfgj_hex4: the 4 hex digits at @p (@n bytes available) as a code unit. */
static int cfgj_hex4(const unsigned char *p, size_t n, unsigned *out)
{
	unsigned v = 0;
	int i, d;

	if (n < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		d = cfgj_hexval(p[i]);
		if (d < 0)
			return -1;
		v = (v << 4) | (unsigned)d;
	}
	*out = v;
	return 0;
}

/*
 * cfgj_utf8_len: length of the well-formed UTF-8 sequence at @p, or -1
 * (overlong forms, surrogates and code points above U+10FFFF are refused).
 */
static int cfgj_utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0], cp, min;
	int len, i;

	if (c >= 0xc2 && c <= 0xdf) {
		len = 2, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return -1;
	}
	if ((size_t)len > n)
		return -1;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	return len;
}

/* cfgj_scan_escape: one escape after the backslash at sc->pos. */
static int cfgj_scan_escape(struct cfgj_scan *sc)
{
	const unsigned char *p = sc->s + sc->pos;
	size_t n = sc->len - sc->pos;
	unsigned hi, lo;

	if (n < 2)
		return sc->why = "unterminated string", -1;
	if (strchr("\"\\/bfnrt", p[1]) && p[1] != '\0') {
		sc->pos += 2;
		return 0;
	}
	if (p[1] != 'u')
		return sc->why = "invalid escape in string", -1;
	if (cfgj_hex4(p + 2, n - 2, &hi))
		return sc->why = "invalid \\u escape in string", -1;
	if (hi >= 0xdc00 && hi <= 0xdfff)
		return sc->why = "unpaired surrogate in \\u escape", -1;
	if (hi >= 0xd800 && hi <= 0xdbff) {
		/* A high surrogate must be followed by an escaped low one. */
		if (n < 12 || p[6] != '\\' || p[7] != 'u' ||
		    cfgj_hex4(p + 8, n - 8, &lo) || lo < 0xdc00 || lo > 0xdfff)
			return sc->why = "unpaired surrogate in \\u escape", -1;
		sc->pos += 12;
		return 0;
	}
	sc->pos += 6;
	return 0;
}

static int cfgj_scan_string(struct cfgj_scan *sc)
{
	int n;

	sc->pos++; /* opening quote */
	while (sc->pos < sc->len) {
		unsigned char c = sc->s[sc->pos];

		if (c == '"') {
			sc->pos++;
			return 0;
		}
		if (c < 0x20)
			return sc->why = "control character in string", -1;
		if (c == '\\') {
			if (cfgj_scan_escape(sc))
				return -1;
			continue;
		}
		if (c < 0x80) {
			sc->pos++;
			continue;
		}
		n = cfgj_utf8_len(sc->s + sc->pos, sc->len - sc->pos);
		if (n < 0)
			return sc->why = "invalid UTF-8 in string", -1;
		sc->pos += (size_t)n;
	}
	return sc->why = "unterminated string", -1;
}

static int cfgj_isdigit(const struct cfgj_scan *sc)
{
	return sc->pos < sc->len && sc->s[sc->pos] >= '0' &&
	       sc->s[sc->pos] <= '9';
}

/* cfgj_scan_number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int cfgj_scan_number(struct cfgj_scan *sc)
{
	if (sc->s[sc->pos] == '-')
		sc->pos++;
	if (!cfgj_isdigit(sc))
		return sc->why = "invalid number", -1;
	if (sc->s[sc->pos] == '0') {
		sc->pos++;
		if (cfgj_isdigit(sc))
			return sc->why = "leading zero in number", -1;
	} else {
		while (cfgj_isdigit(sc))
			sc->pos++;
	}
	if (sc->pos < sc->len && sc->s[sc->pos] == '.') {
		sc->pos++;
		if (!cfgj_isdigit(sc))
			return sc->why = "invalid number", -1;
		while (cfgj_isdigit(sc))
			sc->pos++;
	}
	if (sc->pos < sc->len && (sc->s[sc->pos] | 0x20) == 'e') {
		sc->pos++;
		if (sc->pos < sc->len &&
		    (sc->s[sc->pos] == '+' || sc->s[sc->pos] == '-'))
			sc->pos++;
		if (!cfgj_isdigit(sc))
			return sc->why = "invalid number", -1;
		while (cfgj_isdigit(sc))
			sc->pos++;
	}
	return 0;
}

static int cfgj_scan_literal(struct cfgj_scan *sc)
{
	static const char *const lits[] = { "true", "false", "null" };
	size_t i, n;

	for (i = 0; i < 3; i++) {
		n = strlen(lits[i]);
		if (sc->len - sc->pos >= n &&
		    memcmp(sc->s + sc->pos, lits[i], n) == 0) {
			sc->pos += n;
			return 0;
		}
	}
	return sc->why = "invalid literal", -1;
}

static int cfgj_scan_scalar(struct cfgj_scan *sc)
{
	unsigned char c = sc->s[sc->pos];

	if (c == '"')
		return cfgj_scan_string(sc);
	if (c == '-' || (c >= '0' && c <= '9'))
		return cfgj_scan_number(sc);
	if (c == 't' || c == 'f' || c == 'n')
		return cfgj_scan_literal(sc);
	return sc->why = "unexpected character", -1;
}

enum { CFGJ_ST_VALUE, CFGJ_ST_KEY, CFGJ_ST_AFTER };

/*
 * cfgj_validate: check the whole text against the JSON grammar with an
 * explicit stack (no recursion, so hostile nesting cannot exhaust the C
 * stack) and count the tokens jsmn will produce.
 */
static int cfgj_validate(struct cfgj_scan *sc)
{
	unsigned char stack[CFGJ_MAX_DEPTH], c, top;
	int depth = 0, st = CFGJ_ST_VALUE;

	for (;;) {
		cfgj_ws(sc);
		if (sc->pos >= sc->len) {
			if (st == CFGJ_ST_AFTER && depth == 0)
				return 0;
			return sc->why = "unexpected end of input", -1;
		}
		c = sc->s[sc->pos];
		if (st == CFGJ_ST_VALUE) {
			sc->ntok++;
			if (c == '{' || c == '[') {
				if (depth == CFGJ_MAX_DEPTH)
					return sc->why = "nested too deeply", -1;
				stack[depth++] = c;
				sc->pos++;
				cfgj_ws(sc);
				if (sc->pos < sc->len &&
				    sc->s[sc->pos] == (c == '{' ? '}' : ']')) {
					sc->pos++;
					depth--;
					st = CFGJ_ST_AFTER;
				} else {
					st = c == '{' ? CFGJ_ST_KEY : CFGJ_ST_VALUE;
				}
				continue;
			}
			if (cfgj_scan_scalar(sc))
				return -1;
			st = CFGJ_ST_AFTER;
		} else if (st == CFGJ_ST_KEY) {
			if (c != '"')
				return sc->why = "expected a string key", -1;
			sc->ntok++;
			if (cfgj_scan_string(sc))
				return -1;
			cfgj_ws(sc);
			if (sc->pos >= sc->len || sc->s[sc->pos] != ':')
				return sc->why = "expected ':'", -1;
			sc->pos++;
			st = CFGJ_ST_VALUE;
		} else {
			if (depth == 0)
				return sc->why = "trailing characters", -1;
			top = stack[depth - 1];
			if (c == ',') {
				sc->pos++;
				st = top == '{' ? CFGJ_ST_KEY : CFGJ_ST_VALUE;
			} else if (c == (top == '{' ? '}' : ']')) {
				sc->pos++;
				depth--;
			} else {
				return sc->why = top == '{' ? "expected ',' or '}'"
							    : "expected ',' or ']'",
				       -1;
			}
		}
	}
}

/* ---- tokens ------------------------------------------------------------ */

static const jsmntok_t *cfgj_tok(const struct cfgj *j, int i)
{
	return &((const jsmntok_t *)j->tok)[i];
}

int cfgj_open(struct cfgj *j, const char *json, size_t len, struct err *e)
{
	struct cfgj_scan sc = { (const unsigned char *)json, len, 0, 0, NULL };
	unsigned line = 1, col = 1;
	jsmn_parser p;
	size_t i;
	int r;

	memset(j, 0, sizeof(*j));
	j->e = e;
	if (!json || len == 0)
		return cfg_seterr(e, "Empty request body.");
	if (len > CFGJ_MAX_LEN)
		return cfg_seterr(e, "JSON document too large (max %u bytes)",
				  CFGJ_MAX_LEN);
	if (cfgj_validate(&sc)) {
		for (i = 0; i < sc.pos && i < len; i++) {
			if (json[i] == '\n')
				line++, col = 1;
			else
				col++;
		}
		return cfg_seterr(e, "Invalid JSON: %s at line %u column %u",
				  sc.why, line, col);
	}
	sc.pos = 0;
	cfgj_ws(&sc);
	if (json[sc.pos] != '{')
		return cfg_seterr(e, "Invalid JSON: expected an object");
	j->tok = calloc((size_t)sc.ntok, sizeof(jsmntok_t));
	if (!j->tok)
		return cfg_seterr(e, "Out of memory parsing JSON"), -ENOMEM;
	jsmn_init(&p);
	r = jsmn_parse(&p, json, len, j->tok, (unsigned)sc.ntok);
	if (r != sc.ntok) {
		/* Unreachable for grammar-checked text; refuse rather than trust. */
		cfgj_close(j);
		return cfg_seterr(e, "Invalid JSON");
	}
	j->js = json;
	j->len = len;
	j->ntok = r;
	return 0;
}

void cfgj_close(struct cfgj *j)
{
	free(j->tok);
	j->tok = NULL;
	j->ntok = 0;
}

int cfgj_skip(const struct cfgj *j, int i)
{
	int end = cfgj_tok(j, i)->end, k = i + 1;

	while (k < j->ntok && cfgj_tok(j, k)->start < end)
		k++;
	return k;
}

/* cfgj_first: first character of a primitive token. */
static char cfgj_first(const struct cfgj *j, int i)
{
	return j->js[cfgj_tok(j, i)->start];
}

int cfgj_is_null(const struct cfgj *j, int i)
{
	return cfgj_tok(j, i)->type == JSMN_PRIMITIVE && cfgj_first(j, i) == 'n';
}

enum cfgj_kind cfgj_kind(const struct cfgj *j, int i)
{
	switch (cfgj_tok(j, i)->type) {
	case JSMN_OBJECT: return CFGJ_OBJECT;
	case JSMN_ARRAY: return CFGJ_ARRAY;
	case JSMN_STRING: return CFGJ_STRING;
	default:
		break;
	}
	switch (cfgj_first(j, i)) {
	case 't': return CFGJ_TRUE;
	case 'f': return CFGJ_FALSE;
	case 'n': return CFGJ_NULL;
	default: return CFGJ_NUMBER;
	}
}

int cfgj_size(const struct cfgj *j, int i)
{
	return cfgj_tok(j, i)->size;
}

const char *cfgj_raw(const struct cfgj *j, int i, size_t *len)
{
	const jsmntok_t *t = cfgj_tok(j, i);

	*len = (size_t)(t->end - t->start);
	return j->js + t->start;
}

int cfgj_object(const struct cfgj *j, int i, const char *name)
{
	if (cfgj_tok(j, i)->type != JSMN_OBJECT)
		return cfg_seterr(j->e, "invalid type for `%s`: expected an object",
				  name);
	return 0;
}

int cfgj_array(const struct cfgj *j, int i, const char *name, int *count)
{
	if (cfgj_tok(j, i)->type != JSMN_ARRAY)
		return cfg_seterr(j->e, "invalid type for `%s`: expected an array",
				  name);
	*count = cfgj_tok(j, i)->size;
	return 0;
}

int cfgj_string(const struct cfgj *j, int i, const char *name)
{
	if (cfgj_tok(j, i)->type != JSMN_STRING)
		return cfg_seterr(j->e, "invalid type for `%s`: expected a string",
				  name);
	return 0;
}

int cfgj_bool(const struct cfgj *j, int i, const char *name, bool *out)
{
	char c = cfgj_first(j, i);

	if (cfgj_tok(j, i)->type != JSMN_PRIMITIVE || (c != 't' && c != 'f'))
		return cfg_seterr(j->e, "invalid type for `%s`: expected a boolean",
				  name);
	*out = c == 't';
	return 0;
}

int cfgj_u64(const struct cfgj *j, int i, const char *name, uint64_t max,
	     uint64_t *out)
{
	const jsmntok_t *t = cfgj_tok(j, i);
	const char *s = j->js + t->start;
	size_t n = (size_t)(t->end - t->start), k;
	uint64_t v = 0;

	if (t->type != JSMN_PRIMITIVE || (s[0] != '-' && (s[0] < '0' || s[0] > '9')))
		return cfg_seterr(j->e, "invalid type for `%s`: expected an integer",
				  name);
	for (k = 0; k < n; k++) {
		if (s[k] == '.' || s[k] == 'e' || s[k] == 'E')
			return cfg_seterr(j->e, "`%s` must be an integer", name);
	}
	if (s[0] == '-')
		return cfg_seterr(j->e, "`%s` must not be negative", name);
	for (k = 0; k < n; k++) {
		unsigned d = (unsigned)(s[k] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return cfg_seterr(j->e, "`%s` is out of range", name);
		v = v * 10 + d;
	}
	if (v > max)
		return cfg_seterr(j->e, "`%s` is out of range (max %llu)", name,
				  (unsigned long long)max);
	*out = v;
	return 0;
}

static size_t cfgj_utf8_put(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * cfgj_decode: unescape the @n raw bytes of a string token into @out (at
 * least @n + 1 bytes: decoding never grows the text). -ERANGE for an escaped
 * NUL, -EINVAL for a malformed escape (already excluded by cfgj_validate).
 */
static int cfgj_decode(const char *s, size_t n, char *out, size_t *outlen)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0;
	unsigned cp, lo;

	while (i < n) {
		if (s[i] != '\\') {
			out[o++] = s[i++];
			continue;
		}
		if (i + 1 >= n)
			return -EINVAL;
		i += 2;
		switch (s[i - 1]) {
		case '"': out[o++] = '"'; break;
		case '\\': out[o++] = '\\'; break;
		case '/': out[o++] = '/'; break;
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u':
			if (cfgj_hex4(u + i, n - i, &cp))
				return -EINVAL;
			i += 4;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return -EINVAL;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (i + 6 > n || s[i] != '\\' || s[i + 1] != 'u' ||
				    cfgj_hex4(u + i + 2, n - i - 2, &lo) ||
				    lo < 0xdc00 || lo > 0xdfff)
					return -EINVAL;
				i += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (cp == 0)
				return -ERANGE;
			o += cfgj_utf8_put(out + o, cp);
			break;
		default:
			return -EINVAL;
		}
	}
	out[o] = '\0';
	*outlen = o;
	return 0;
}

int cfgj_str(const struct cfgj *j, int i, const char *name, char **out)
{
	const jsmntok_t *t = cfgj_tok(j, i);
	size_t n, dlen;
	char *buf;
	int r;

	if (cfgj_string(j, i, name))
		return -EINVAL;
	n = (size_t)(t->end - t->start);
	buf = malloc(n + 1);
	if (!buf)
		return cfg_seterr(j->e, "Out of memory parsing `%s`", name), -ENOMEM;
	r = cfgj_decode(j->js + t->start, n, buf, &dlen);
	if (r) {
		free(buf);
		if (r == -ERANGE)
			return cfg_seterr(j->e, "`%s` must not contain a NUL character",
					  name);
		return cfg_seterr(j->e, "invalid escape in `%s`", name);
	}
	*out = buf;
	return 0;
}

int cfgj_str_buf(const struct cfgj *j, int i, const char *name, char *buf,
		 size_t cap)
{
	char *s;
	size_t n;
	int r;

	r = cfgj_str(j, i, name, &s);
	if (r)
		return r;
	n = strlen(s);
	if (n >= cap) {
		free(s);
		return cfg_seterr(j->e, "`%s` is too long (max %zu bytes)", name,
				  cap - 1);
	}
	memcpy(buf, s, n + 1);
	free(s);
	return 0;
}

int cfgj_fields(const struct cfgj *j, int obj, const char *what,
		const char *const *names, int nnames, int *vals)
{
	/* No known key is longer than this, even fully \u-escaped. */
	char key[256], shown[48];
	uint64_t seen = 0;
	int m, k, n, f, r;
	size_t klen;

	if (cfgj_object(j, obj, what))
		return -EINVAL;
	for (f = 0; f < nnames; f++)
		vals[f] = -1;
	n = cfgj_tok(j, obj)->size;
	k = obj + 1;
	for (m = 0; m < n; m++) {
		const jsmntok_t *t = cfgj_tok(j, k);
		size_t raw = (size_t)(t->end - t->start);

		f = nnames;
		r = raw < sizeof(key) ?
			    cfgj_decode(j->js + t->start, raw, key, &klen) : -1;
		if (r == 0 && strlen(key) == klen) {
			for (f = 0; f < nnames; f++) {
				if (strcmp(key, names[f]) == 0)
					break;
			}
		}
		if (f == nnames) {
			cfgj_sanitize(j->js + t->start, raw, shown, sizeof(shown));
			return cfg_seterr(j->e, "unknown field `%s` in %s", shown,
					  what);
		}
		if (seen & (1ull << f))
			return cfg_seterr(j->e, "duplicate field `%s` in %s",
					  names[f], what);
		seen |= 1ull << f;
		if (!cfgj_is_null(j, k + 1))
			vals[f] = k + 1;
		k = cfgj_skip(j, k + 1);
	}
	return 0;
}

/* ---- output ------------------------------------------------------------ */

void cfgw_init(struct cfgw *w, char *buf, size_t cap)
{
	w->buf = buf;
	w->cap = buf ? cap : 0;
	w->len = 0;
	w->full = false;
}

/* cfgw_put: append @n bytes, always keeping room for the final NUL. */
static void cfgw_put(struct cfgw *w, const char *s, size_t n)
{
	if (w->full || n >= w->cap - w->len) {
		w->full = true;
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

void cfgw_raw(struct cfgw *w, const char *s)
{
	cfgw_put(w, s, strlen(s));
}

const char *json_escape(unsigned char c, char esc[7])
{
	static const char hex[] = "0123456789abcdef";

	switch (c) {
	case '"': return "\\\"";
	case '\\': return "\\\\";
	case '\b': return "\\b";
	case '\f': return "\\f";
	case '\n': return "\\n";
	case '\r': return "\\r";
	case '\t': return "\\t";
	default:
		if (c >= 0x20 && c != 0x7f)
			return NULL;
		esc[0] = '\\', esc[1] = 'u', esc[2] = '0', esc[3] = '0';
		esc[4] = hex[c >> 4], esc[5] = hex[c & 15], esc[6] = '\0';
		return esc;
	}
}

void cfgw_str(struct cfgw *w, const char *s)
{
	const char *run, *rep;
	char esc[7];

	if (!s) {
		cfgw_raw(w, "null");
		return;
	}
	cfgw_put(w, "\"", 1);
	for (run = s; *s; s++) {
		if (!(rep = json_escape((unsigned char)*s, esc)))
			continue;
		cfgw_put(w, run, (size_t)(s - run));
		cfgw_raw(w, rep);
		run = s + 1;
	}
	cfgw_put(w, run, (size_t)(s - run));
	cfgw_put(w, "\"", 1);
}

void cfgw_u64(struct cfgw *w, uint64_t v)
{
	char tmp[24];

	snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
	cfgw_raw(w, tmp);
}

void cfgw_bool(struct cfgw *w, bool v)
{
	cfgw_raw(w, v ? "true" : "false");
}

void cfgw_key(struct cfgw *w, bool *first, const char *key)
{
	if (!*first)
		cfgw_put(w, ",", 1);
	*first = false;
	cfgw_str(w, key);
	cfgw_put(w, ":", 1);
}

int cfgw_finish(struct cfgw *w)
{
	if (w->full || w->cap == 0 || w->len > (size_t)INT32_MAX)
		return -ENOSPC;
	w->buf[w->len] = '\0';
	return (int)w->len;
}
