/* store.c: the MMDS data store: a JSON value tree with sorted object keys. */
#include "mmds/store.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/json.h"

enum mv_type { MV_NULL, MV_TRUE, MV_FALSE, MV_NUM, MV_STR, MV_ARR, MV_OBJ };

struct mmds_member {
	char *key;                  /* decoded, no NUL inside */
	struct mmds_val *val;       /* NULL only while a merge fills it */
};

/*
 * One JSON value. Object members are kept sorted by key (bytewise), so that
 * output is in the order Firecracker's serde_json map gives.
 */
struct mmds_val {
	enum mv_type type;
	char *s;                    /* MV_STR: decoded text; MV_NUM: as written */
	size_t slen;
	size_t n, cap;              /* MV_ARR: items; MV_OBJ: members */
	struct mmds_val **items;
	struct mmds_member *members;
};

static void mv_free(struct mmds_val *v)
{
	if (!v)
		return;
	for (size_t i = 0; v->items && i < v->n; i++)
		mv_free(v->items[i]);
	for (size_t i = 0; v->members && i < v->n; i++) {
		free(v->members[i].key);
		mv_free(v->members[i].val);
	}
	free(v->items);
	free(v->members);
	free(v->s);
	free(v);
}

static struct mmds_val *mv_new(enum mv_type t)
{
	struct mmds_val *v = calloc(1, sizeof(*v));

	if (v)
		v->type = t;
	return v;
}

/* mv_grow: room for one more item or member. */
static int mv_grow(struct mmds_val *v)
{
	size_t cap;

	if (v->n < v->cap)
		return 0;
	cap = v->cap ? 2 * v->cap : 4;
	if (v->type == MV_ARR) {
		struct mmds_val **p = realloc(v->items, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		v->items = p;
	} else {
		struct mmds_member *p = realloc(v->members, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		v->members = p;
	}
	v->cap = cap;
	return 0;
}

/* mv_find: the index of @key in object @o, or where it would go (*@found false). */
static size_t mv_find(const struct mmds_val *o, const char *key, size_t klen, bool *found)
{
	size_t lo = 0, hi = o->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *mk = o->members[mid].key;
		size_t mlen = strlen(mk);
		int c = memcmp(mk, key, mlen < klen ? mlen : klen);

		if (c == 0)
			c = mlen < klen ? -1 : mlen > klen;
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

/*
 * mv_slot: the member @key of object @o, inserted with a NULL value when
 * absent (@key is taken over either way). NULL when out of memory.
 */
static struct mmds_member *mv_slot(struct mmds_val *o, char *key)
{
	bool found;
	size_t at = mv_find(o, key, strlen(key), &found);

	if (found) {
		free(key);
		return &o->members[at];
	}
	if (mv_grow(o)) {
		free(key);
		return NULL;
	}
	memmove(o->members + at + 1, o->members + at, (o->n - at) * sizeof(o->members[0]));
	o->members[at] = (struct mmds_member){ key, NULL };
	o->n++;
	return &o->members[at];
}

/* ---- from tokens ---- */

static int mv_parse(const struct cfgj *j, int i, struct mmds_val **out);

static int mv_parse_obj(const struct cfgj *j, int i, struct mmds_val *v)
{
	int n = cfgj_size(j, i), k = i + 1, r;

	for (int m = 0; m < n; m++) {
		struct mmds_member *slot;
		struct mmds_val *val;
		char *key;

		if ((r = cfgj_str(j, k, "key", &key)))
			return r;
		if (!(slot = mv_slot(v, key)))
			return -ENOMEM;
		if ((r = mv_parse(j, k + 1, &val)))
			return r;
		/* A key given twice: the last one counts (as in serde_json). */
		mv_free(slot->val);
		slot->val = val;
		k = cfgj_skip(j, k + 1);
	}
	return 0;
}

static int mv_parse(const struct cfgj *j, int i, struct mmds_val **out)
{
	static const enum mv_type type_of[] = {
		[CFGJ_OBJECT] = MV_OBJ, [CFGJ_ARRAY] = MV_ARR, [CFGJ_STRING] = MV_STR,
		[CFGJ_NUMBER] = MV_NUM, [CFGJ_TRUE] = MV_TRUE, [CFGJ_FALSE] = MV_FALSE,
		[CFGJ_NULL] = MV_NULL,
	};
	struct mmds_val *v = mv_new(type_of[cfgj_kind(j, i)]);
	const char *raw;
	int r = 0;

	*out = NULL;
	if (!v)
		return -ENOMEM;
	switch (v->type) {
	case MV_OBJ:
		r = mv_parse_obj(j, i, v);
		break;
	case MV_ARR: {
		int n = cfgj_size(j, i), k = i + 1;

		for (int m = 0; m < n && r == 0; m++) {
			if ((r = mv_grow(v)))
				break;
			r = mv_parse(j, k, &v->items[v->n]);
			if (r == 0)
				v->n++;
			k = cfgj_skip(j, k);
		}
		break;
	}
	case MV_STR:
		r = cfgj_str(j, i, "value", &v->s);
		if (r == 0)
			v->slen = strlen(v->s);
		break;
	case MV_NUM:
		raw = cfgj_raw(j, i, &v->slen);
		v->s = malloc(v->slen + 1);
		if (!v->s) {
			r = -ENOMEM;
			break;
		}
		memcpy(v->s, raw, v->slen);
		v->s[v->slen] = '\0';
		break;
	default:
		break;
	}
	if (r) {
		mv_free(v);
		return r;
	}
	*out = v;
	return 0;
}

/* mv_from_json: a tree for the JSON object @json; 0 or -EINVAL / -ENOMEM with @e set. */
static int mv_from_json(const char *json, size_t len, struct mmds_val **out, struct err *e)
{
	struct cfgj j;
	int r = cfgj_open(&j, json, len, e);

	*out = NULL;
	if (r == 0) {
		r = mv_parse(&j, 0, out);
		if (r == -ENOMEM)
			err_set(e, r, "Out of memory parsing the MMDS contents.");
	}
	cfgj_close(&j);
	return r;
}

static struct mmds_val *mv_clone(const struct mmds_val *v)
{
	struct mmds_val *c = mv_new(v->type);

	if (!c)
		return NULL;
	if (v->s) {
		c->s = malloc(v->slen + 1);
		if (!c->s)
			goto fail;
		memcpy(c->s, v->s, v->slen + 1);
		c->slen = v->slen;
	}
	for (size_t i = 0; i < v->n; i++) {
		if (mv_grow(c))
			goto fail;
		if (v->type == MV_ARR) {
			if (!(c->items[i] = mv_clone(v->items[i])))
				goto fail;
		} else {
			char *key = strdup(v->members[i].key);
			struct mmds_val *val = key ? mv_clone(v->members[i].val) : NULL;

			if (!val) {
				free(key);
				goto fail;
			}
			c->members[i] = (struct mmds_member){ key, val };
		}
		c->n++;
	}
	return c;
fail:
	mv_free(c);
	return NULL;
}

/* mv_merge: RFC 7396 MergePatch(*@t, @p), consuming @p; *@t may be NULL (absent). */
static int mv_merge(struct mmds_val **t, struct mmds_val *p)
{
	int r = 0;

	if (p->type != MV_OBJ) {
		mv_free(*t);
		*t = p;
		return 0;
	}
	if (!*t || (*t)->type != MV_OBJ) {
		mv_free(*t);
		if (!(*t = mv_new(MV_OBJ))) {
			mv_free(p);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < p->n; i++) {
		struct mmds_member *pm = &p->members[i];

		if (r) {
			/* After a failure: release the rest of the patch. */
		} else if (pm->val->type == MV_NULL) {
			bool found;
			size_t at = mv_find(*t, pm->key, strlen(pm->key), &found);

			if (found) {
				free((*t)->members[at].key);
				mv_free((*t)->members[at].val);
				(*t)->n--;
				memmove((*t)->members + at, (*t)->members + at + 1,
					((*t)->n - at) * sizeof((*t)->members[0]));
			}
		} else {
			struct mmds_member *slot = mv_slot(*t, pm->key);

			pm->key = NULL;
			if (!slot) {
				r = -ENOMEM;
			} else {
				r = mv_merge(&slot->val, pm->val);
				pm->val = NULL;
			}
		}
		free(pm->key);
		mv_free(pm->val);
	}
	free(p->members);
	p->members = NULL;
	p->n = 0;
	mv_free(p);
	return r;
}

/* ---- output ---- */

/* A writer that keeps counting past its end (the size check needs the whole length). */
struct mw {
	char *buf;
	size_t cap, len;
};

static void mw_put(struct mw *w, const char *s, size_t n)
{
	if (w->len < w->cap && n <= w->cap - w->len)
		memcpy(w->buf + w->len, s, n);
	else
		w->cap = 0;     /* once something did not fit, nothing more is written */
	w->len += n;
}

static void mw_str(struct mw *w, const char *s, size_t n)
{
	size_t run = 0;
	const char *rep;
	char esc[7];

	mw_put(w, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		if (!(rep = json_escape((unsigned char)s[i], esc)))
			continue;
		mw_put(w, s + run, i - run);
		mw_put(w, rep, strlen(rep));
		run = i + 1;
	}
	mw_put(w, s + run, n - run);
	mw_put(w, "\"", 1);
}

static void mv_json(struct mw *w, const struct mmds_val *v)
{
	switch (v->type) {
	case MV_NULL: mw_put(w, "null", 4); break;
	case MV_TRUE: mw_put(w, "true", 4); break;
	case MV_FALSE: mw_put(w, "false", 5); break;
	case MV_NUM: mw_put(w, v->s, v->slen); break;
	case MV_STR: mw_str(w, v->s, v->slen); break;
	case MV_ARR:
		mw_put(w, "[", 1);
		for (size_t i = 0; i < v->n; i++) {
			if (i)
				mw_put(w, ",", 1);
			mv_json(w, v->items[i]);
		}
		mw_put(w, "]", 1);
		break;
	case MV_OBJ:
		mw_put(w, "{", 1);
		for (size_t i = 0; i < v->n; i++) {
			if (i)
				mw_put(w, ",", 1);
			mw_str(w, v->members[i].key, strlen(v->members[i].key));
			mw_put(w, ":", 1);
			mv_json(w, v->members[i].val);
		}
		mw_put(w, "}", 1);
		break;
	}
}

static size_t mv_json_len(const struct mmds_val *v)
{
	struct mw w = { NULL, 0, 0 };

	mv_json(&w, v);
	return w.len;
}

/* ---- the store ---- */

void mmds_store_init(struct mmds_store *s, size_t limit)
{
	s->root = NULL;
	s->limit = limit;
	s->size = 0;
}

void mmds_store_free(struct mmds_store *s)
{
	mv_free(s->root);
	s->root = NULL;
	s->size = 0;
}

static int mmds_store_too_big(struct err *e)
{
	return err_set(e, -EFBIG, "The MMDS patch request doesn't fit.");
}

int mmds_store_put(struct mmds_store *s, const char *json, size_t len, struct err *e)
{
	struct mmds_val *v;
	size_t size;
	int r = mv_from_json(json, len, &v, e);

	if (r)
		return r;
	size = mv_json_len(v);
	if (size > s->limit) {
		mv_free(v);
		return mmds_store_too_big(e);
	}
	mv_free(s->root);
	s->root = v;
	s->size = size;
	return 0;
}

int mmds_store_patch(struct mmds_store *s, const char *json, size_t len, struct err *e)
{
	struct mmds_val *p, *t;
	size_t size;
	int r;

	if (!s->root)
		return err_set(e, -EPERM, "The MMDS data store is not initialized.");
	if ((r = mv_from_json(json, len, &p, e)))
		return r;
	t = mv_clone(s->root);
	if (!t) {
		mv_free(p);
		return err_set(e, -ENOMEM, "Out of memory patching the MMDS contents.");
	}
	if ((r = mv_merge(&t, p))) {
		mv_free(t);
		return err_set(e, r, "Out of memory patching the MMDS contents.");
	}
	size = mv_json_len(t);
	if (size > s->limit) {
		mv_free(t);
		return mmds_store_too_big(e);
	}
	mv_free(s->root);
	s->root = t;
	s->size = size;
	return 0;
}

int mmds_store_json(const struct mmds_store *s, char *buf, size_t cap)
{
	struct mw w = { buf, cap, 0 };

	if (s->root)
		mv_json(&w, s->root);
	else
		mw_put(&w, "{}", 2);
	if (w.len >= cap || w.len > INT32_MAX)
		return -ENOSPC;
	buf[w.len] = '\0';
	return (int)w.len;
}

/* mv_index: a JSON pointer array index: decimal, no sign, no leading zero. */
static bool mv_index(const char *s, size_t n, size_t *out)
{
	size_t v = 0;

	if (n == 0 || n > 9 || (s[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (size_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* mv_lookup: the value at the JSON pointer @p (@n bytes), NULL when none. */
static const struct mmds_val *mv_lookup(const struct mmds_val *v, const char *p, size_t n)
{
	char seg[256];

	if (n == 0)
		return v;
	if (p[0] != '/')
		return NULL;
	while (n > 0 && v) {
		size_t i = 1, sl = 0, idx;

		/* One segment, "~1" read as '/' and "~0" as '~'. */
		while (i < n && p[i] != '/') {
			char c = p[i++];

			if (c == '~') {
				if (i >= n || (p[i] != '0' && p[i] != '1'))
					return NULL;
				c = p[i++] == '0' ? '~' : '/';
			}
			if (sl >= sizeof(seg))
				return NULL;   /* longer than any key worth looking for */
			seg[sl++] = c;
		}
		p += i;
		n -= i;
		if (v->type == MV_OBJ) {
			bool found;
			size_t at = mv_find(v, seg, sl, &found);

			v = found && memchr(seg, '\0', sl) == NULL ? v->members[at].val : NULL;
		} else if (v->type == MV_ARR) {
			v = mv_index(seg, sl, &idx) && idx < v->n ? v->items[idx] : NULL;
		} else {
			v = NULL;
		}
	}
	return v;
}

int mmds_store_get(const struct mmds_store *s, const char *path, size_t len,
		   enum mmds_format fmt, char *buf, size_t cap)
{
	const struct mmds_val *v;
	struct mw w = { buf, cap, 0 };

	if (!s->root)
		return -ENOENT;
	if (len > 0 && path[len - 1] == '/')
		len--;
	v = mv_lookup(s->root, path, len);
	if (!v)
		return -ENOENT;
	if (fmt == MMDS_FMT_JSON) {
		mv_json(&w, v);
	} else if (v->type == MV_OBJ) {
		for (size_t i = 0; i < v->n; i++) {
			if (i)
				mw_put(&w, "\n", 1);
			mw_put(&w, v->members[i].key, strlen(v->members[i].key));
			if (v->members[i].val->type == MV_OBJ)
				mw_put(&w, "/", 1);
		}
	} else if (v->type == MV_STR) {
		mw_put(&w, v->s, v->slen);
	} else {
		return -ENOTSUP;
	}
	if (w.len > cap || w.len > INT32_MAX)
		return -ENOSPC;
	return (int)w.len;
}
