/*
 * gen-events: write a realistic stream of authentication events for the
 * watch benchmark (docs/BENCHMARKS.md).
 *
 *   cc -O2 -o gen-events bench/gen-events.c
 *   gen-events [-s SEED] [-u USERS] [-m generic|mixed] N
 *
 * Writes N events, one JSON object per line, to stdout.  The stream is a
 * company of USERS people (100000 by default) and a few hundred machine
 * credentials over about a month: sign-ins with a password and a second
 * factor, access to the staff, payroll and admin workflows of
 * bench/watch-policy.yaml, password resets, help-desk resets, enrolments,
 * key use, the odd legacy IMAP sign-in and break-glass use.  Most of it is
 * harmless: about one sign-in in a hundred misses its workflow's level or
 * device, one token in a thousand is used after it expired; resets
 * followed by privileged access, help-desk resets followed by enrolment
 * and a new device, and legacy sign-ins come at their own small rates.
 *
 * -m generic writes the generic normalized form only; -m mixed (the
 * default) writes a fifth of the events as Okta System Log records and a
 * tenth as CloudTrail records (one per line), the rest generic.
 *
 * The output depends only on the arguments.  Time moves forward by a few
 * hundred milliseconds per event, so the number of subjects active at once
 * does not grow with N: memory in watch must stay flat.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* splitmix64: small, fast and the same on every platform. */
static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned pick(unsigned n)
{
	return (unsigned)(rng() % n);
}

/* RFC 3339 UTC with milliseconds, from epoch milliseconds. */
static void stamp(int64_t ms, char out[80])
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	snprintf(out, 80, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* A sign-in or access that meets its workflow, or (one time in a
 * hundred) one that does not: the weak second factor, the wrong device. */
struct shape {
	const char *workflow, *methods, *device;
};

static struct shape shape_of(void)
{
	static const char *const staff_methods[] = {
		"\"password\",\"totp\"", "\"password\",\"push\"",
		"\"passkey_synced\"", "\"password\",\"security_key\""};
	bool off = pick(100) == 0;
	unsigned w = pick(100);
	if (w < 8) /* admin: AAL3, phishing resistant, managed device */
		return (struct shape){"admin",
				      off ? "\"password\",\"totp\""
					  : "\"security_key_uv\"",
				      off && pick(2) ? "known" : "managed"};
	if (w < 20) /* payroll: phishing resistant, a known device */
		return (struct shape){"payroll",
				      off ? "\"password\",\"sms_otp\""
					  : "\"passkey_synced\"",
				      off && pick(2) ? "unmanaged" : "known"};
	return (struct shape){"staff",
			      off ? "\"password\"" : staff_methods[pick(4)],
			      pick(4) ? "managed" : "unmanaged"};
}

static void generic(int64_t ms, unsigned users, unsigned keys)
{
	char t[80];
	stamp(ms, t);
	unsigned u = pick(users), r = pick(1000);
	unsigned ip = pick(65536);

	if (r < 850) {
		struct shape sh = shape_of();
		printf("{\"time\":\"%s\",\"subject\":\"u%u\",\"kind\":\"%s\","
		       "\"workflow\":\"%s\",\"methods\":[%s],"
		       "\"device\":\"%s\",\"device_id\":\"d%u\","
		       "\"ip\":\"10.%u.%u.%u\",\"result\":\"%s\"}\n",
		       t, u, r < 550 ? "login" : "access", sh.workflow,
		       sh.methods, sh.device, u, ip >> 8, ip & 255, pick(250),
		       pick(20) ? "success" : "failure");
	} else if (r < 950) {
		unsigned k = pick(keys);
		/* Tokens live an hour; one in a thousand is used late. */
		int64_t exp = ms + ((int64_t)pick(3600) + 1) * 1000;
		if (!pick(1000))
			exp = ms - 60000;
		char e[80];
		stamp(exp, e);
		printf("{\"time\":\"%s\",\"subject\":\"svc%u\","
		       "\"kind\":\"token_use\",\"credential\":\"key-%u\","
		       "\"workflow\":\"ci-deploy\",\"ip\":\"10.20.%u.%u\","
		       "\"expires\":\"%s\",\"result\":\"success\"}\n",
		       t, k % 97, k, pick(256), pick(256), e);
	} else if (r < 952) {
		printf("{\"time\":\"%s\",\"subject\":\"u%u\","
		       "\"kind\":\"recovery\",\"methods\":[\"email_link\"],"
		       "\"result\":\"success\"}\n",
		       t, u);
	} else if (r < 953) {
		printf("{\"time\":\"%s\",\"subject\":\"u%u\","
		       "\"kind\":\"helpdesk_reset\",\"actor\":\"agent%u\","
		       "\"result\":\"success\"}\n",
		       t, u, pick(40));
	} else if (r < 998) {
		static const char *const second[] = {"totp", "push",
						     "security_key_uv",
						     "passkey_synced"};
		printf("{\"time\":\"%s\",\"subject\":\"u%u\",\"kind\":\"enroll\","
		       "\"methods\":[\"%s\"],\"result\":\"success\"}\n",
		       t, u, second[pick(4)]);
	} else if (r < 999) {
		printf("{\"time\":\"%s\",\"subject\":\"u%u\",\"kind\":\"login\","
		       "\"protocol\":\"imap\",\"methods\":[\"password\"],"
		       "\"ip\":\"198.51.100.%u\",\"result\":\"success\"}\n",
		       t, u, pick(250));
	} else if (!pick(20)) {
		printf("{\"time\":\"%s\",\"subject\":\"bg-root\","
		       "\"kind\":\"break_glass\",\"workflow\":\"admin\","
		       "\"result\":\"success\"}\n",
		       t);
	} else {
		printf("{\"time\":\"%s\",\"subject\":\"u%u\",\"kind\":\"login\","
		       "\"workflow\":\"staff\",\"methods\":[\"password\",\"totp\"],"
		       "\"device\":\"managed\",\"device_id\":\"d%u\","
		       "\"result\":\"success\"}\n",
		       t, u, u);
	}
}

static void okta(int64_t ms, unsigned users)
{
	char t[80];
	stamp(ms, t);
	unsigned u = pick(users), ip = pick(65536);
	static const char *const types[] = {
		"user.session.start", "user.authentication.auth_via_mfa",
		"user.authentication.sso", "policy.evaluate_sign_on"};
	printf("{\"actor\":{\"id\":\"00u%07u\",\"type\":\"User\","
	       "\"alternateId\":\"u%u@example.com\",\"displayName\":\"User "
	       "%u\"},\"client\":{\"userAgent\":{\"rawUserAgent\":\"Mozilla/5.0"
	       "\",\"os\":\"Mac OS X\",\"browser\":\"CHROME\"},\"device\":"
	       "\"Computer\",\"ipAddress\":\"10.%u.%u.%u\"},"
	       "\"authenticationContext\":{\"authenticationStep\":0,"
	       "\"externalSessionId\":\"idx%u\"},\"eventType\":\"%s\","
	       "\"outcome\":{\"result\":\"SUCCESS\"},\"published\":\"%s\","
	       "\"severity\":\"INFO\",\"uuid\":\"%016" PRIx64 "\","
	       "\"version\":\"0\"}\n",
	       u, u, u, ip >> 8, ip & 255, pick(250), u, types[pick(4)], t,
	       rng());
}

static void cloudtrail(int64_t ms, unsigned users)
{
	char t[80];
	stamp(ms, t);
	unsigned u = pick(users);
	bool login = pick(4) == 0;
	if (login)
		printf("{\"eventVersion\":\"1.08\",\"userIdentity\":{\"type\":"
		       "\"IAMUser\",\"principalId\":\"AIDA%012u\",\"arn\":"
		       "\"arn:aws:iam::111122223333:user/u%u\",\"accountId\":"
		       "\"111122223333\",\"userName\":\"u%u\"},\"eventTime\":"
		       "\"%.19sZ\",\"eventSource\":\"signin.amazonaws.com\","
		       "\"eventName\":\"ConsoleLogin\",\"awsRegion\":"
		       "\"us-east-1\",\"sourceIPAddress\":\"192.0.2.%u\","
		       "\"responseElements\":{\"ConsoleLogin\":\"Success\"},"
		       "\"additionalEventData\":{\"MFAUsed\":\"%s\"},"
		       "\"eventType\":\"AwsConsoleSignIn\"}\n",
		       u, u, u, t, pick(250), pick(10) ? "Yes" : "No");
	else
		printf("{\"eventVersion\":\"1.08\",\"userIdentity\":{\"type\":"
		       "\"IAMUser\",\"principalId\":\"AIDA%012u\",\"arn\":"
		       "\"arn:aws:iam::111122223333:user/svc%u\",\"accountId\":"
		       "\"111122223333\",\"accessKeyId\":\"AKIA%016u\","
		       "\"userName\":\"svc%u\"},\"eventTime\":\"%.19sZ\","
		       "\"eventSource\":\"s3.amazonaws.com\",\"eventName\":"
		       "\"GetObject\",\"awsRegion\":\"us-east-1\","
		       "\"sourceIPAddress\":\"10.20.%u.%u\",\"eventType\":"
		       "\"AwsApiCall\"}\n",
		       u % 97, u % 97, u % 97, u % 97, t, pick(256), pick(256));
}

int main(int argc, char **argv)
{
	uint64_t seed = 1;
	unsigned users = 100000, keys = 400;
	bool mixed = true;
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-s") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "-u") && i + 1 < argc)
			users = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "-m") && i + 1 < argc) {
			const char *m = argv[++i];
			if (!strcmp(m, "generic"))
				mixed = false;
			else if (!strcmp(m, "mixed"))
				mixed = true;
			else
				goto usage;
		} else
			goto usage;
	}
	if (i != argc - 1 || !users)
		goto usage;
	uint64_t n = strtoull(argv[i], NULL, 10);
	rng_state = seed;
	/* 2026-01-01T00:00:00Z, and about 250 ms between events. */
	int64_t ms = 1767225600000LL;
	static char obuf[1 << 20];
	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
	for (uint64_t k = 0; k < n; k++) {
		ms += (int64_t)pick(500);
		unsigned r = mixed ? pick(10) : 9;
		if (r < 2)
			okta(ms, users);
		else if (r < 3)
			cloudtrail(ms, users);
		else
			generic(ms, users, keys);
	}
	return fflush(stdout) ? 1 : 0;
usage:
	fprintf(stderr, "usage: gen-events [-s SEED] [-u USERS] "
			"[-m generic|mixed] N\n");
	return 2;
}
