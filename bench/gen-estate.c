/*
 * gen-estate: write a realistic estate of N accounts for the audit scale
 * benchmark (docs/BENCHMARKS.md).
 *
 *   cc -O2 -o gen-estate bench/gen-estate.c
 *   gen-estate [-s SEED] N OUT.yaml
 *
 * The estate is a company of people in departments, each with a mailbox
 * and about half with a phone at a carrier, plus service accounts and a
 * few break-glass accounts.  Paths are mostly group-level (single sign-on,
 * VPN, self-service recovery by e-mail or SMS, help desk, legacy mail
 * protocols, session renewal) with per-account paths on top (one login per
 * mailbox, one console per administrator, one deploy credential per
 * service).  Recovery by e-mail and SMS makes people depend on their
 * mailbox and phone, and the carrier recovers a phone by e-mail to the
 * same mailbox, so the fixed point has chains and cycles to work through.
 *
 * The output depends only on N and SEED.  On stdout it prints one line:
 *   accounts=N paths=P edges=E
 * where E counts (path, account) pairs, the edges the audit builds.  Use
 * it with bench/policy.yaml.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64: small, fast and the same on every platform. */
static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* True with probability pct/100. */
static bool chance(unsigned pct)
{
	return rng() % 100 < pct;
}

static FILE *out;
static uint64_t n_paths, n_edges;

static void put(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void path(uint64_t members, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
}

/* A path to a group of `members` accounts (or to one account). */
static void path(uint64_t members, const char *fmt, ...)
{
	va_list ap;
	if (members == 0)
		return; /* a path to an empty group is an error in the estate */
	fputs("  - { ", out);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputs(" }\n", out);
	n_paths++;
	n_edges += members;
}

struct person {
	uint32_t dept;
	bool phone, admin, legacy, sms_recovery, mbx_sms, mbx_legacy,
		mbx_app_password, prepaid;
};

/* Department policies vary the way real ones do. */
static bool dept_sms_recovery(uint32_t d) { return d % 4 == 0; }
static bool dept_legacy(uint32_t d) { return d % 10 == 3; }
static bool dept_passkeys(uint32_t d) { return d % 3 == 1; }
static bool dept_helpdesk_monitored(uint32_t d) { return d % 5 != 1; }

int main(int argc, char **argv)
{
	uint64_t seed = 1, n;
	int argi = 1;
	char *end;

	if (argc > 2 && !strcmp(argv[1], "-s")) {
		seed = strtoull(argv[2], &end, 10);
		if (*end) {
			fprintf(stderr, "gen-estate: bad seed '%s'\n", argv[2]);
			return 2;
		}
		argi = 3;
	}
	if (argc - argi != 2) {
		fprintf(stderr, "usage: gen-estate [-s SEED] N OUT.yaml\n");
		return 2;
	}
	n = strtoull(argv[argi], &end, 10);
	if (*end || n < 100 || n > 20000000) {
		fprintf(stderr, "gen-estate: N must be 100 to 20000000, not "
				"'%s'\n",
			argv[argi]);
		return 2;
	}
	rng_state = seed;
	if (!(out = fopen(argv[argi + 1], "w"))) {
		perror(argv[argi + 1]);
		return 2;
	}
	static char obuf[1 << 20];
	setvbuf(out, obuf, _IOFBF, sizeof(obuf));

	/*
	 * Shares of N: break-glass accounts, then about 38% people, as many
	 * mailboxes, a phone for about half the people, and services for
	 * the rest (about 5%).
	 */
	uint64_t n_bg = n / 50000 + 1;
	uint64_t n_hum = (n - n_bg) * 38 / 100;
	uint32_t n_dept = (uint32_t)(n_hum / 500 < 4 ? 4 : n_hum / 500);
	struct person *p = calloc(n_hum, sizeof(*p));
	if (!p) {
		fprintf(stderr, "gen-estate: out of memory\n");
		return 1;
	}
	uint64_t n_phone = 0, n_admin = 0, n_legacy = 0, n_sms_rec = 0,
		 n_mbx_sms = 0, n_mbx_legacy = 0, n_prepaid = 0,
		 n_app_pw = 0;
	uint64_t *dept_size = calloc(n_dept, sizeof(*dept_size));
	if (!dept_size)
		return 1;
	for (uint64_t i = 0; i < n_hum; i++) {
		struct person *h = &p[i];
		h->dept = (uint32_t)(rng() % n_dept);
		dept_size[h->dept]++;
		h->phone = chance(50);
		h->admin = chance(1);
		h->legacy = dept_legacy(h->dept);
		h->sms_recovery = h->phone && dept_sms_recovery(h->dept);
		h->mbx_sms = h->phone && chance(50);
		h->mbx_legacy = chance(5);
		h->mbx_app_password = chance(3);
		h->prepaid = h->phone && chance(30);
		n_phone += h->phone;
		n_admin += h->admin;
		n_legacy += h->legacy;
		n_sms_rec += h->sms_recovery;
		n_mbx_sms += h->mbx_sms;
		n_mbx_legacy += h->mbx_legacy;
		n_prepaid += h->prepaid;
		n_app_pw += h->mbx_app_password;
	}
	if (n_bg + 2 * n_hum + n_phone >= n) {
		fprintf(stderr, "gen-estate: N too small\n");
		return 2;
	}
	uint64_t n_svc = n - n_bg - 2 * n_hum - n_phone;
	uint64_t n_svc_keys = 0;

	put("# A generated estate: %" PRIu64 " accounts (seed %" PRIu64 ").\n"
	    "accounts:\n",
	    n, seed);
	for (uint64_t i = 0; i < n_hum; i++) {
		const struct person *h = &p[i];
		put("  - { id: u%07" PRIu64 ", kind: human, workflow: %s, "
		    "groups: [staff, dept-%04u, %s%s%s], "
		    "email: \"mail:u%07" PRIu64 "@corp.example\"",
		    i, h->admin ? "admin" : "staff", h->dept,
		    h->sms_recovery ? "sspr-sms" : "sspr-email",
		    h->legacy ? ", legacy-mail" : "", h->admin ? ", admins" : "",
		    i);
		if (h->phone)
			put(", phone: \"phone:+1555%07" PRIu64 "\"", i);
		if (h->admin && i % 7 == 0)
			put(", standing: true");
		put(" }\n");
	}
	for (uint64_t i = 0; i < n_hum; i++) {
		const struct person *h = &p[i];
		put("  - { id: \"mail:u%07" PRIu64 "@corp.example\", "
		    "kind: mailbox, groups: [mailboxes, %s%s]",
		    i, h->mbx_sms ? "mailboxes-sms" : "mailboxes-code",
		    h->mbx_legacy ? ", mailboxes-legacy" : "");
		if (h->mbx_sms)
			put(", phone: \"phone:+1555%07" PRIu64 "\"", i);
		put(" }\n");
	}
	for (uint64_t i = 0; i < n_hum; i++) {
		const struct person *h = &p[i];
		if (!h->phone)
			continue;
		put("  - { id: \"phone:+1555%07" PRIu64 "\", kind: phone, "
		    "groups: [phones%s], "
		    "email: \"mail:u%07" PRIu64 "@corp.example\" }\n",
		    i, h->prepaid ? ", phones-prepaid" : "", i);
	}
	for (uint64_t i = 0; i < n_svc; i++) {
		bool keys = chance(20);
		n_svc_keys += (uint64_t)keys;
		put("  - { id: svc-%07" PRIu64 ", kind: service, "
		    "workflow: ci-deploy, groups: [%s], owner: u%07" PRIu64
		    " }\n",
		    i, keys ? "services-keys" : "services-wi",
		    rng() % n_hum);
	}
	for (uint64_t i = 0; i < n_bg; i++)
		put("  - { id: breakglass-%03" PRIu64 ", kind: human, "
		    "workflow: admin, break_glass: true }\n",
		    i);

	put("paths:\n");
	/* People. */
	path(n_hum,
	     "id: sso, kind: login, to: [\"group:staff\"], "
	     "methods: [password, totp], device_check: true, monitored: true");
	path(n_hum,
	     "id: vpn, kind: login, to: [\"group:staff\"], "
	     "methods: [password, push_number_match], device_check: true, "
	     "monitored: true");
	path(n_hum,
	     "id: stepup, kind: stepup, to: [\"group:staff\"], "
	     "methods: [password, security_key], monitored: true");
	path(n_hum,
	     "id: vpn-renew, kind: renewal, to: [\"group:staff\"], "
	     "methods: [refresh_token], lifetime: 12h, monitored: true");
	path(n_hum - n_sms_rec,
	     "id: mfa-reset-email, kind: recovery, "
	     "to: [\"group:sspr-email\"], methods: [password, email_otp], "
	     "lifetime: 15m, monitored: true");
	path(n_sms_rec,
	     "id: sspr-sms, kind: recovery, to: [\"group:sspr-sms\"], "
	     "methods: [password, sms_otp], lifetime: 10m, monitored: true");
	path(n_legacy,
	     "id: imap, kind: legacy, to: [\"group:legacy-mail\"], "
	     "methods: [password]");
	path(n_admin,
	     "id: admin-console, kind: login, to: [\"group:admins\"], "
	     "methods: [smartcard], device_check: true, monitored: true");
	for (uint32_t d = 0; d < n_dept; d++) {
		path(dept_size[d],
		     "id: app-%04u, kind: login, to: [\"group:dept-%04u\"], "
		     "methods: [%s], device_check: true, monitored: true",
		     d, d,
		     dept_passkeys(d) ? "passkey_synced"
				      : "password, push_number_match");
		path(dept_size[d],
		     "id: helpdesk-%04u, kind: helpdesk, "
		     "to: [\"group:dept-%04u\"], "
		     "methods: [password, helpdesk_video_id], monitored: %s",
		     d, d, dept_helpdesk_monitored(d) ? "true" : "false");
	}
	for (uint64_t i = 0; i < n_hum; i++)
		if (p[i].admin)
			path(1,
			     "id: pam-u%07" PRIu64 ", kind: login, "
			     "to: [u%07" PRIu64 "], methods: [security_key_uv], "
			     "device_check: true, monitored: true",
			     i, i);
	for (uint64_t i = 0; i < n_bg; i++) {
		path(1,
		     "id: breakglass-%03" PRIu64 "-console, kind: login, "
		     "to: [breakglass-%03" PRIu64 "], methods: [smartcard], "
		     "device_check: true, monitored: true",
		     i, i);
		path(1,
		     "id: breakglass-%03" PRIu64 ", kind: break_glass, "
		     "to: [breakglass-%03" PRIu64 "], "
		     "methods: [password, security_key_uv], approval: %s, "
		     "approvals: 2, alert: true, lifetime: 1h, monitored: true",
		     i, i, i % 7 == 3 ? "false" : "true");
	}

	/* Mailboxes. */
	path(n_hum,
	     "id: mail-login, kind: login, to: [\"group:mailboxes\"], "
	     "methods: [password, totp], monitored: true");
	path(n_hum,
	     "id: mail-renew, kind: renewal, to: [\"group:mailboxes\"], "
	     "methods: [refresh_token], lifetime: 14d");
	path(n_mbx_sms,
	     "id: mail-recovery-sms, kind: recovery, "
	     "to: [\"group:mailboxes-sms\"], methods: [password, sms_otp], "
	     "lifetime: 10m");
	path(n_hum - n_mbx_sms,
	     "id: mail-recovery-code, kind: recovery, "
	     "to: [\"group:mailboxes-code\"], "
	     "methods: [password, recovery_code]");
	path(n_mbx_legacy,
	     "id: activesync, kind: legacy, to: [\"group:mailboxes-legacy\"], "
	     "methods: [password]");
	for (uint64_t i = 0; i < n_hum; i++) {
		if (p[i].mbx_app_password)
			path(1,
			     "id: app-password-u%07" PRIu64 ", kind: legacy, "
			     "to: [\"mail:u%07" PRIu64 "@corp.example\"], "
			     "methods: [password]",
			     i, i);
		else
			path(1,
			     "id: webmail-u%07" PRIu64 ", kind: login, "
			     "to: [\"mail:u%07" PRIu64 "@corp.example\"], "
			     "methods: [passkey_synced], monitored: true",
			     i, i);
	}

	/* Phones, at the carrier. */
	path(n_phone,
	     "id: carrier-login, kind: login, to: [\"group:phones\"], "
	     "methods: [password, totp]");
	path(n_phone,
	     "id: carrier-recovery, kind: recovery, to: [\"group:phones\"], "
	     "methods: [password, email_link], lifetime: 1h");
	path(n_phone,
	     "id: carrier-port-out, kind: helpdesk, to: [\"group:phones\"], "
	     "methods: [password, helpdesk_video_id]");
	path(n_prepaid,
	     "id: carrier-store, kind: helpdesk, "
	     "to: [\"group:phones-prepaid\"], methods: [store_id_check]");

	/* Services. */
	path(n_svc - n_svc_keys,
	     "id: svc-workload, kind: api, to: [\"group:services-wi\"], "
	     "methods: [workload_identity], lifetime: 1h, monitored: true");
	path(n_svc_keys,
	     "id: svc-keys, kind: api, to: [\"group:services-keys\"], "
	     "methods: [api_key], monitored: true");
	for (uint64_t i = 0; i < n_svc; i++)
		path(1,
		     "id: deploy-svc-%07" PRIu64 ", kind: api, "
		     "to: [svc-%07" PRIu64 "], methods: [mtls], lifetime: 1h, "
		     "monitored: true",
		     i, i);

	if (fflush(out) || ferror(out) || fclose(out)) {
		perror(argv[argi + 1]);
		return 1;
	}
	printf("accounts=%" PRIu64 " paths=%" PRIu64 " edges=%" PRIu64 "\n",
	       n, n_paths, n_edges);
	free(p);
	free(dept_size);
	return 0;
}
