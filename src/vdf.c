/* Valve's text KeyValues. A tokenizer over the buffer and a recursive descent over blocks, its
 * depth bounded by VDF_DEPTH_MAX, so any input ends in a tree or an error naming its line. */
#include "vdf.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

enum tok { T_END, T_STRING, T_OPEN, T_CLOSE, T_COND };

struct lexer {
	const char *p, *end;
	unsigned line;
	char *text; /* the last T_STRING, malloc'd */
	char *err;
	size_t errlen;
	int error;
};

static int lex_fail(struct lexer *lx, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Keeps the first error with its line; returns r. */
static int
lex_fail(struct lexer *lx, int r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (lx->error)
		return lx->error;
	lx->error = r;
	if (!lx->err || lx->errlen == 0)
		return r;
	n = snprintf(lx->err, lx->errlen, "line %u: ", lx->line);
	if (n >= 0 && (size_t)n < lx->errlen) {
		va_start(ap, fmt);
		vsnprintf(lx->err + n, lx->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return r;
}

/* Skips blanks, line ends (counting them) and // comments. */
static void
skip_space(struct lexer *lx)
{
	while (lx->p < lx->end) {
		if (*lx->p == '\n') {
			lx->line++;
			lx->p++;
		} else if (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r' || *lx->p == '\f' ||
			   *lx->p == '\v') {
			lx->p++;
		} else if (*lx->p == '/' && lx->p + 1 < lx->end && lx->p[1] == '/') {
			while (lx->p < lx->end && *lx->p != '\n')
				lx->p++;
		} else {
			break;
		}
	}
}

/* A quoted string, lx->p just after its opening quote; \\ \" \n \t are escapes, as in Steam's
 * files (a Windows path there is written with doubled backslashes). */
static int
lex_quoted(struct lexer *lx)
{
	const char *s = lx->p;
	char *out;
	size_t n = 0;

	while (s < lx->end && *s != '"')
		s += (*s == '\\' && s + 1 < lx->end) ? 2 : 1;
	if (s >= lx->end)
		return lex_fail(lx, -EINVAL, "string without its closing quote");
	out = malloc((size_t)(s - lx->p) + 1);
	if (!out)
		return lex_fail(lx, -ENOMEM, "out of memory");
	for (const char *q = lx->p; q < s; q++) {
		if (*q == '\n')
			lx->line++;
		if (*q == '\\' && q + 1 < s) {
			q++;
			out[n++] = *q == 'n' ? '\n' : *q == 't' ? '\t' : *q;
		} else {
			out[n++] = *q;
		}
	}
	out[n] = '\0';
	lx->p = s + 1;
	free(lx->text);
	lx->text = out;
	return 0;
}

/* A bare word: up to a blank, a quote or a brace. */
static int
lex_bare(struct lexer *lx)
{
	const char *s = lx->p;

	while (s < lx->end && !strchr(" \t\r\n\f\v\"{}", *s))
		s++;
	free(lx->text);
	lx->text = strndup(lx->p, (size_t)(s - lx->p));
	lx->p = s;
	return lx->text ? 0 : lex_fail(lx, -ENOMEM, "out of memory");
}

/* The next token; a negative errno on a bad one. A NUL byte ends the text as Steam's reader does. */
static int
lex_next(struct lexer *lx)
{
	skip_space(lx);
	if (lx->p >= lx->end || *lx->p == '\0')
		return T_END;
	switch (*lx->p) {
	case '{':
		lx->p++;
		return T_OPEN;
	case '}':
		lx->p++;
		return T_CLOSE;
	case '"':
		lx->p++;
		return lex_quoted(lx) < 0 ? lx->error : T_STRING;
	case '[':
		/* A platform condition such as [$WIN32] after a value: Steam on Linux ignores it too. */
		while (lx->p < lx->end && *lx->p != ']' && *lx->p != '\n')
			lx->p++;
		lx->p += lx->p < lx->end && *lx->p == ']';
		return T_COND;
	default:
		return lex_bare(lx) < 0 ? lx->error : T_STRING;
	}
}

static void
node_clear(struct vdf_node *n)
{
	for (size_t i = 0; i < n->n_children; i++)
		node_clear(&n->children[i]);
	free(n->children);
	free(n->key);
	free(n->value);
}

void
vdf_free(struct vdf_node *n)
{
	if (!n)
		return;
	node_clear(n);
	free(n);
}

/* Appends an empty child to block b, keeping capacity in *cap; NULL when out of memory. */
static struct vdf_node *
child_append(struct vdf_node *b, size_t *cap)
{
	if (b->n_children == *cap) {
		size_t c = *cap ? *cap * 2 : 4;
		struct vdf_node *v = reallocarray(b->children, c, sizeof(*v));
		if (!v)
			return NULL;
		b->children = v;
		*cap = c;
	}
	b->children[b->n_children] = (struct vdf_node){0};
	return &b->children[b->n_children++];
}

static int parse_block(struct lexer *lx, struct vdf_node *b, unsigned depth);

/* After a key: its string value or its block. */
static int
parse_value(struct lexer *lx, struct vdf_node *n, unsigned depth)
{
	int t = lex_next(lx);

	if (t < 0)
		return t;
	if (t == T_STRING) {
		n->value = TAKE_PTR(lx->text);
		return 0;
	}
	if (t == T_OPEN) {
		if (depth + 1 > VDF_DEPTH_MAX)
			return lex_fail(lx, -EINVAL, "blocks nested deeper than %d", VDF_DEPTH_MAX);
		return parse_block(lx, n, depth + 1);
	}
	return lex_fail(lx, -EINVAL, "key '%.64s' has no value", n->key);
}

/* The keys of one block up to its '}' (depth > 0) or the end of the text (the root). */
static int
parse_block(struct lexer *lx, struct vdf_node *b, unsigned depth)
{
	size_t cap = 0;

	for (;;) {
		struct vdf_node *n;
		int t = lex_next(lx);

		if (t < 0)
			return t;
		if (t == T_COND)
			continue;
		if (t == T_END)
			return depth ? lex_fail(lx, -EINVAL, "block without its closing '}'") : 0;
		if (t == T_CLOSE)
			return depth ? 0 : lex_fail(lx, -EINVAL, "'}' without a block to close");
		if (t == T_OPEN)
			return lex_fail(lx, -EINVAL, "'{' without a key before it");
		n = child_append(b, &cap);
		if (!n)
			return lex_fail(lx, -ENOMEM, "out of memory");
		n->key = TAKE_PTR(lx->text);
		if (parse_value(lx, n, depth) < 0)
			return lx->error;
	}
}

int
vdf_parse(const char *data, size_t len, struct vdf_node **ret, char *err, size_t errlen)
{
	struct lexer lx = {.p = data, .end = data + len, .line = 1, .err = err, .errlen = errlen};
	struct vdf_node *root = calloc(1, sizeof(*root));
	int r;

	if (!root)
		return -ENOMEM;
	r = parse_block(&lx, root, 0);
	free(lx.text);
	if (r < 0) {
		vdf_free(root);
		return r;
	}
	*ret = root;
	return 0;
}

/* Reads a whole file of at most max bytes into a malloc'd buffer (fread retries short reads). */
static int
read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	char *buf = NULL;
	FILE *f = fopen(path, "re");
	struct stat st;
	size_t len = 0;
	int r = 0;

	if (!f)
		return -errno;
	if (fstat(fileno(f), &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;
	else if ((uint64_t)st.st_size > max)
		r = -EFBIG;
	else if (!(buf = malloc((size_t)st.st_size + 1)))
		r = -ENOMEM;
	if (r == 0) {
		/* One byte more than the size says: a file that grew meanwhile is caught. */
		len = fread(buf, 1, (size_t)st.st_size + 1, f);
		r = ferror(f) ? -EIO : len > (size_t)st.st_size ? -EFBIG : 0;
	}
	fclose(f);
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

int
vdf_load(const char *path, struct vdf_node **ret, char *err, size_t errlen)
{
	_cleanup_free_ char *data = NULL;
	char why[256];
	size_t len = 0;
	int r = read_file(path, VDF_FILE_MAX, &data, &len);

	if (r < 0) {
		snprintf(err, errlen, "cannot read '%s': %s", path,
			 r == -EFBIG	? "larger than 16 MiB"
			 : r == -EINVAL ? "not a regular file"
					: strerror(-r));
		return r;
	}
	r = vdf_parse(data, len, ret, why, sizeof(why));
	if (r < 0)
		snprintf(err, errlen, "%s: %s", path, r == -ENOMEM ? "out of memory" : why);
	return r;
}

const struct vdf_node *
vdf_child(const struct vdf_node *n, const char *key)
{
	if (!n || n->value)
		return NULL;
	for (size_t i = 0; i < n->n_children; i++)
		if (strcasecmp(n->children[i].key, key) == 0)
			return &n->children[i];
	return NULL;
}

const char *
vdf_get(const struct vdf_node *n, const char *path)
{
	char key[256];

	while (n && *path) {
		size_t len = strcspn(path, "/");
		if (len >= sizeof(key))
			return NULL;
		memcpy(key, path, len);
		key[len] = '\0';
		n = vdf_child(n, key);
		path += len + (path[len] == '/');
	}
	return n ? n->value : NULL;
}
