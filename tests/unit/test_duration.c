/*
 * Durations (docs/policy.md): "90s", "15m", "12h", "30d", nothing else.
 * They carry the reauthentication windows of SP 800-63B-4 §2.x.3, so a
 * misread duration would silently change an assurance requirement.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

static int64_t parse_ok(const char *s)
{
	int64_t v = -1;
	ag_code rc = ag_duration_parse(s, &v);
	if (rc != AG_OK)
		fail_msg("'%s' did not parse: %s", s, ag_strerror(rc));
	return v;
}

static void parse_fails(const char *s, ag_code code)
{
	int64_t v = 4242;
	ag_code rc = ag_duration_parse(s, &v);
	if (rc != code)
		fail_msg("'%s' gave code %d, expected %d", s ? s : "(null)",
			 (int)rc, (int)code);
	assert_int_equal(v, 4242); /* untouched on failure */
}

static void test_parse_units(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("90s"), 90);
	assert_int_equal(parse_ok("15m"), 15 * 60);
	assert_int_equal(parse_ok("12h"), 12 * 3600);
	assert_int_equal(parse_ok("30d"), 30 * 86400);
	assert_int_equal(parse_ok("1s"), 1);
	assert_int_equal(parse_ok("0s"), 0);
	assert_int_equal(parse_ok("24h"), 86400);
	/* The cap: 100 years. */
	assert_int_equal(parse_ok("36500d"), (int64_t)36500 * 86400);
	assert_int_equal(parse_ok("876000h"), (int64_t)36500 * 86400);
}

static void test_parse_rejects_malformed(void **state)
{
	(void)state;
	parse_fails(NULL, AG_ERR_INVALID);
	parse_fails("", AG_ERR_INVALID);
	parse_fails("12", AG_ERR_INVALID);    /* no unit */
	parse_fails("h", AG_ERR_INVALID);     /* no number */
	parse_fails("1.5h", AG_ERR_INVALID);  /* no fractions */
	parse_fails("-1h", AG_ERR_INVALID);   /* no sign */
	parse_fails("+1h", AG_ERR_INVALID);
	parse_fails("12 h", AG_ERR_INVALID);  /* no space */
	parse_fails(" 12h", AG_ERR_INVALID);
	parse_fails("12h ", AG_ERR_INVALID);
	parse_fails("1h30m", AG_ERR_INVALID); /* one unit only */
	parse_fails("12H", AG_ERR_INVALID);   /* units are lower case */
	parse_fails("12w", AG_ERR_INVALID);
	parse_fails("12ms", AG_ERR_INVALID);
	parse_fails("12hh", AG_ERR_INVALID);
	parse_fails("0x10s", AG_ERR_INVALID);
}

static void test_parse_rejects_overflow(void **state)
{
	(void)state;
	parse_fails("36501d", AG_ERR_LIMIT);
	parse_fails("876001h", AG_ERR_LIMIT);
	parse_fails("9223372036854775807s", AG_ERR_LIMIT);
	parse_fails("9223372036854775808s", AG_ERR_LIMIT);
	parse_fails("99999999999999999999999999999d", AG_ERR_LIMIT);
	parse_fails("153722867280912931m", AG_ERR_LIMIT); /* * 60 > 2^63 */
}

static void expect_format(int64_t secs, const char *want)
{
	char buf[32];
	memset(buf, 'x', sizeof(buf));
	ag_duration_format(secs, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_format_largest_exact_unit(void **state)
{
	(void)state;
	expect_format(0, "0s");
	expect_format(90, "90s");
	expect_format(15 * 60, "15m");
	expect_format(12 * 3600, "12h");
	expect_format(30 * 86400, "30d");
	/* One day reads better as 24h; whole days from two on. */
	expect_format(86400, "24h");
	expect_format(2 * 86400, "2d");
	expect_format(25 * 3600, "25h");
	expect_format(3601, "3601s");
	expect_format(61 * 60, "61m");

	/* A short buffer is truncated but terminated. */
	char small[3];
	ag_duration_format(12345, small, sizeof(small));
	assert_string_equal(small, "12");
}

static void test_format_parse_round_trip(void **state)
{
	(void)state;
	static const char *const canon[] = {
		"90s", "15m", "12h", "30d", "1s", "59s", "1m", "1h", "24h",
		"2d", "23h", "36500d", "7m", "61s",
	};
	for (size_t i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
		char buf[32];
		ag_duration_format(parse_ok(canon[i]), buf, sizeof(buf));
		assert_string_equal(buf, canon[i]);
	}

	static const int64_t secs[] = {
		1, 59, 60, 90, 3599, 3600, 5400, 86399, 86400, 90000,
		30 * 86400, (int64_t)36500 * 86400,
	};
	for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
		char buf[32];
		ag_duration_format(secs[i], buf, sizeof(buf));
		assert_int_equal(parse_ok(buf), secs[i]);
	}
}

/* Dates and RFC 3339 times (credential ages, --as-of). */
static void test_time_parse(void **state)
{
	(void)state;
	int64_t t = -1;
	assert_int_equal(ag_time_parse("1970-01-01", &t), AG_OK);
	assert_int_equal(t, 0);
	assert_int_equal(ag_time_parse("2025-03-31", &t), AG_OK);
	assert_int_equal(t, 1743379200);
	assert_int_equal(ag_time_parse("2024-02-29T12:30:15Z", &t), AG_OK);
	assert_int_equal(t, 1709209815);
	assert_int_equal(ag_time_parse("2024-02-29T14:30:15+02:00", &t), AG_OK);
	assert_int_equal(t, 1709209815);
	assert_int_equal(ag_time_parse("2024-02-29T12:30:15.123456Z", &t),
			 AG_OK);
	assert_int_equal(t, 1709209815);
	static const char *const bad[] = {
		"", "2025", "2025-13-01", "2025-02-29", "2023-02-29x",
		"2025-04-31", "1969-12-31", "2025-01-01T10:00:00",
		"2025-01-01T25:00:00Z", "2025-01-01T10:00Z", "2025/01/01",
		"2025-01-01T10:00:00+0200", "2025-01-01T10:00:00.Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = 42;
		if (ag_time_parse(bad[i], &t) == AG_OK)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(t, 42);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_units),
		cmocka_unit_test(test_parse_rejects_malformed),
		cmocka_unit_test(test_parse_rejects_overflow),
		cmocka_unit_test(test_format_largest_exact_unit),
		cmocka_unit_test(test_format_parse_round_trip),
		cmocka_unit_test(test_time_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
