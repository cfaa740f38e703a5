/* The units of config values: durations, sizes and booleans. Pure functions, fuzzed on their own. */
#include "config.h"
#include "util.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Parses one decimal number at *s, advancing *s past it; at least one digit. */
static int
parse_u64(const char **s, uint64_t *ret)
{
	const char *p = *s;
	uint64_t v = 0;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++)
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
			return -ERANGE;
	*s = p;
	*ret = v;
	return 0;
}

static uint64_t
duration_unit(const char *u, size_t len)
{
	static const struct {
		const char *name;
		uint64_t usec;
	} units[] = {
	    {"us", 1},
	    {"ms", USEC_PER_MSEC},
	    {"s", USEC_PER_SEC},
	    {"m", USEC_PER_MINUTE},
	    {"h", USEC_PER_HOUR},
	    {"d", USEC_PER_DAY},
	};

	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (strlen(units[i].name) == len && strncmp(u, units[i].name, len) == 0)
			return units[i].usec;
	return 0;
}

int
parse_duration(const char *s, uint64_t *ret_usec)
{
	uint64_t total = 0, n, mult;
	bool first = true;
	int r;

	do {
		size_t len;

		if ((r = parse_u64(&s, &n)) < 0)
			return r;
		len = strspn(s, "abcdefghijklmnopqrstuvwxyz");
		/* A bare number is seconds, but only on its own: "1h30" is more likely a mistake. */
		mult = len == 0 && first && *s == '\0' ? USEC_PER_SEC : duration_unit(s, len);
		if (mult == 0)
			return -EINVAL;
		if (__builtin_mul_overflow(n, mult, &n) || __builtin_add_overflow(total, n, &total))
			return -ERANGE;
		s += len;
		s += strspn(s, " \t");
		first = false;
	} while (*s);
	*ret_usec = total;
	return 0;
}

int
parse_size(const char *s, uint64_t *ret_bytes)
{
	static const char suffixes[] = "KMGT";
	uint64_t n, mult = 1;
	const char *u;
	int r;

	if ((r = parse_u64(&s, &n)) < 0)
		return r;
	if (*s) {
		u = strchr(suffixes, toupper((unsigned char)*s));
		if (!u || s[1])
			return -EINVAL;
		mult = 1ULL << (10 * (u - suffixes + 1));
	}
	if (__builtin_mul_overflow(n, mult, &n))
		return -ERANGE;
	*ret_bytes = n;
	return 0;
}

int
parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}
