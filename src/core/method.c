/*
 * The method catalogue and the combination of methods into an assurance.
 * This file is the one place where AAL arithmetic lives (docs/policy.md,
 * docs/internals/assurance.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "banned.h"

struct builtin {
	const char *name;
	const char *amr[6];
	enum ag_factor factor;
	int alone;
	bool pr, hw;
	enum ag_delegation deleg;
	bool restricted, prohibited, needs_device, device, recovery_only;
};

/* Recovery codes of SP 800-63B-4 §4.2: issued (e-mail, SMS, voice) and
 * saved (look-up secrets). */
static const char *const recovery_codes[] = {
	"email_link", "email_otp", "sms_otp", "voice_otp", "recovery_code",
};

/*
 * docs/policy.md.  "device" marks an authenticator the subscriber holds, which
 * a pin or biometric can unlock to make a multi-factor combination
 * (SP 800-63B-4 §3.1.7-§3.1.9: activation factors).
 */
static const struct builtin builtins[] = {
	{"password", {"pwd"}, AG_FACTOR_KNOW, 1, false, false, AG_DELEG_NONE,
	 false, false, false, false, false},
	{"pin", {"pin"}, AG_FACTOR_KNOW, 0, false, false, AG_DELEG_NONE, false,
	 false, true, false, false},
	{"kba", {"kba"}, AG_FACTOR_NONE, 0, false, false, AG_DELEG_NONE, false,
	 true, false, false, false},
	{"email_link", {NULL}, AG_FACTOR_HAVE, 1, false, false, AG_DELEG_EMAIL,
	 false, false, false, false, true},
	{"email_otp", {NULL}, AG_FACTOR_HAVE, 1, false, false, AG_DELEG_EMAIL,
	 false, false, false, false, true},
	{"sms_otp", {"sms"}, AG_FACTOR_HAVE, 1, false, false, AG_DELEG_PHONE,
	 true, false, false, false, false},
	{"voice_otp", {"tel"}, AG_FACTOR_HAVE, 1, false, false, AG_DELEG_PHONE,
	 true, false, false, false, false},
	{"totp", {"otp"}, AG_FACTOR_HAVE, 1, false, false, AG_DELEG_NONE, false,
	 false, false, true, false},
	{"push", {"mca"}, AG_FACTOR_HAVE, 1, false, false, AG_DELEG_NONE, false,
	 false, false, true, false},
	{"push_number_match", {"mca"}, AG_FACTOR_HAVE, 1, false, false,
	 AG_DELEG_NONE, false, false, false, true, false},
	{"recovery_code", {NULL}, AG_FACTOR_HAVE, 1, false, false,
	 AG_DELEG_NONE, false, false, false, false, false},
	{"software_key", {"swk"}, AG_FACTOR_HAVE, 1, true, false, AG_DELEG_NONE,
	 false, false, false, true, false},
	{"passkey_synced", {"swk", "user"}, AG_FACTOR_MULTI, 2, true, false,
	 AG_DELEG_NONE, false, false, false, true, false},
	{"security_key", {"hwk"}, AG_FACTOR_HAVE, 1, true, true, AG_DELEG_NONE,
	 false, false, false, true, false},
	{"security_key_uv", {"hwk", "pin", "fpt"}, AG_FACTOR_MULTI, 3, true,
	 true, AG_DELEG_NONE, false, false, false, true, false},
	{"smartcard", {"sc", "pin"}, AG_FACTOR_MULTI, 3, true, true,
	 AG_DELEG_NONE, false, false, false, true, false},
	{"biometric", {"fpt", "face", "iris", "retina", "vbm"}, AG_FACTOR_ARE, 0,
	 false, false, AG_DELEG_NONE, false, false, true, false, false},
	{"refresh_token", {NULL}, AG_FACTOR_HAVE, 1, false, false,
	 AG_DELEG_NONE, false, false, false, false, false},
	{"session_cookie", {NULL}, AG_FACTOR_HAVE, 1, false, false,
	 AG_DELEG_NONE, false, false, false, false, false},
	{"api_key", {NULL}, AG_FACTOR_HAVE, 1, false, false, AG_DELEG_NONE,
	 false, false, false, false, false},
	{"client_secret", {NULL}, AG_FACTOR_HAVE, 1, false, false,
	 AG_DELEG_NONE, false, false, false, false, false},
	{"workload_identity", {NULL}, AG_FACTOR_HAVE, 1, true, false,
	 AG_DELEG_NONE, false, false, false, false, false},
	{"mtls", {NULL}, AG_FACTOR_HAVE, 1, true, false, AG_DELEG_NONE, false,
	 false, false, false, false},
};

static void method_release(struct ag_method *m)
{
	free(m->name);
	if (m->amr) {
		for (char **a = m->amr; *a; a++)
			free(*a);
		free(m->amr);
	}
	memset(m, 0, sizeof(*m));
}

void ag_catalogue_release(struct ag_catalogue *cat)
{
	for (size_t i = 0; i < cat->n; i++)
		method_release(&cat->methods[i]);
	free(cat->methods);
	memset(cat, 0, sizeof(*cat));
}

ag_code ag_catalogue_builtin(struct ag_catalogue *cat)
{
	memset(cat, 0, sizeof(*cat));
	if (AG_GROW(cat->methods, cat->alloc, AG_ARRAY_SIZE(builtins)))
		return AG_ERR_NOMEM;
	for (size_t i = 0; i < AG_ARRAY_SIZE(builtins); i++) {
		const struct builtin *b = &builtins[i];
		struct ag_method *m = &cat->methods[cat->n];
		size_t namr = 0;

		memset(m, 0, sizeof(*m));
		while (namr < AG_ARRAY_SIZE(b->amr) && b->amr[namr])
			namr++;
		m->name = ag_strdup(b->name);
		m->amr = calloc(namr + 1, sizeof(char *));
		cat->n++; /* counted now, so that release frees it */
		if (!m->name || !m->amr)
			goto nomem;
		for (size_t k = 0; k < namr; k++)
			if (!(m->amr[k] = ag_strdup(b->amr[k])))
				goto nomem;
		m->factor = b->factor;
		m->alone = b->alone;
		m->phishing_resistant = b->pr;
		m->hardware = b->hw;
		m->delegated = b->deleg;
		m->restricted = b->restricted;
		m->prohibited = b->prohibited;
		m->needs_device = b->needs_device;
		m->device = b->device;
		m->recovery_only = b->recovery_only;
		for (size_t k = 0; k < AG_ARRAY_SIZE(recovery_codes); k++)
			if (!strcmp(b->name, recovery_codes[k]))
				m->recovery_code = true;
		m->builtin = true;
	}
	return AG_OK;
nomem:
	ag_catalogue_release(cat);
	return AG_ERR_NOMEM;
}

int ag_catalogue_find(const struct ag_catalogue *cat, const char *name)
{
	for (size_t i = 0; i < cat->n; i++)
		if (!strcmp(cat->methods[i].name, name))
			return (int)i;
	return -1;
}

static bool amr_has(const char *const *amr, size_t n, const char *v)
{
	for (size_t i = 0; i < n; i++)
		if (amr[i] && !strcmp(amr[i], v))
			return true;
	return false;
}

size_t ag_amr_methods(const struct ag_catalogue *cat, const char *const *amr,
		      size_t n, uint16_t *idx, size_t max)
{
	size_t out = 0;

	for (size_t i = 0; i < cat->n && out < max && i <= UINT16_MAX; i++) {
		const struct ag_method *m = &cat->methods[i];
		if (!m->amr || !m->amr[0])
			continue;
		bool hit = false;
		if (m->factor == AG_FACTOR_MULTI && m->amr[1]) {
			if (amr_has(amr, n, m->amr[0]))
				for (char **a = m->amr + 1; *a && !hit; a++)
					hit = amr_has(amr, n, *a);
		} else {
			for (char **a = m->amr; *a && !hit; a++)
				hit = amr_has(amr, n, *a);
		}
		if (hit)
			idx[out++] = (uint16_t)i;
	}
	return out;
}

/* Does method m count in this use, before device activation is decided? */
static bool permitted(const struct ag_method *m, enum ag_use use)
{
	if (m->prohibited || m->factor == AG_FACTOR_NONE)
		return false;
	if (m->recovery_only && use != AG_USE_RECOVERY)
		return false;
	return true;
}

void ag_combine(const struct ag_catalogue *cat, const uint16_t *idx, size_t n,
		enum ag_use use, struct ag_assurance *out)
{
	bool know = false, have = false, are = false, device = false;
	bool aal3_single = false, aal3_multi = false, multi = false;
	bool pr = false, hw = false;
	int alone = 0;
	size_t codes = 0, others = 0;

	out->aal = 0;
	out->phishing_resistant = false;
	out->hardware = false;

	/* First pass: is there a device that activation factors unlock? */
	for (size_t i = 0; i < n; i++) {
		if (idx[i] >= cat->n)
			continue;
		const struct ag_method *m = &cat->methods[idx[i]];
		if (permitted(m, use) && m->device)
			device = true;
	}

	for (size_t i = 0; i < n; i++) {
		if (idx[i] >= cat->n)
			continue; /* an unknown index counts as nothing */
		const struct ag_method *m = &cat->methods[idx[i]];
		if (!permitted(m, use))
			continue;
		if (m->needs_device && !device)
			continue;
		switch (m->factor) {
		case AG_FACTOR_KNOW:
			know = true;
			break;
		case AG_FACTOR_HAVE:
			have = true;
			if (m->hardware && m->phishing_resistant)
				aal3_single = true;
			break;
		case AG_FACTOR_ARE:
			are = true;
			break;
		case AG_FACTOR_MULTI:
			multi = true;
			if (m->hardware && m->phishing_resistant)
				aal3_multi = true;
			break;
		case AG_FACTOR_NONE:
			break;
		}
		if (m->alone > alone)
			alone = m->alone;
		if (m->recovery_code)
			codes++; /* distinct: a set holds each method once */
		else if (m->alone >= 1)
			others++;
		pr = pr || m->phishing_resistant;
		hw = hw || m->hardware;
	}

	int aal = 0;
	if (aal3_multi || (aal3_single && know))
		aal = 3;
	else if (multi || (have && (know || are)))
		aal = 2;
	else if (alone >= 1)
		aal = 1; /* a method that stands alone (not an activation
			  * factor, not one the policy set to alone: 0) */
	/* A policy method's stated level never lifts beyond what its factor,
	 * hardware and phishing resistance allow: the policy loader checks
	 * that, so alone is trusted here. */
	if (alone > aal)
		aal = alone;
	/* SP 800-63B-4 §4.2: recovery of an AAL2 account. */
	if (use == AG_USE_RECOVERY && aal < 2 &&
	    (codes >= 2 || (codes >= 1 && others >= 1)))
		aal = 2;

	out->aal = aal;
	out->phishing_resistant = aal > 0 && pr;
	out->hardware = aal > 0 && hw;
}

/* ---- durations --------------------------------------------------------- */

ag_code ag_duration_parse(const char *s, int64_t *secs)
{
	int64_t v = 0, unit;
	const char *p = s;

	if (!s || !*s)
		return AG_ERR_INVALID;
	if (*p < '0' || *p > '9')
		return AG_ERR_INVALID;
	while (*p >= '0' && *p <= '9') {
		if (v > (INT64_MAX - 9) / 10)
			return AG_ERR_LIMIT;
		v = v * 10 + (*p - '0');
		p++;
	}
	switch (*p) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		return AG_ERR_INVALID;
	}
	if (p[1] != '\0')
		return AG_ERR_INVALID;
	/* Cap at 100 years: longer is a typo, and keeps arithmetic safe. */
	if (v > (int64_t)36500 * 86400 / unit)
		return AG_ERR_LIMIT;
	*secs = v * unit;
	return AG_OK;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

ag_code ag_time_parse(const char *s, int64_t *out)
{
	unsigned y, mo, d, h = 0, mi = 0, se = 0;
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30,
					 31, 31, 30, 31, 30, 31};
	int64_t offset = 0;
	size_t n = s ? strlen(s) : 0;

	if (n < 10 || !digits(s, 4, &y) || s[4] != '-' ||
	    !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d))
		return AG_ERR_INVALID;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
		return AG_ERR_INVALID;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return AG_ERR_INVALID;
	const char *p = s + 10;
	if (*p) {
		if ((*p != 'T' && *p != 't' && *p != ' ') || strlen(p) < 9 ||
		    !digits(p + 1, 2, &h) || p[3] != ':' ||
		    !digits(p + 4, 2, &mi) || p[6] != ':' ||
		    !digits(p + 7, 2, &se))
			return AG_ERR_INVALID;
		if (h > 23 || mi > 59 || se > 60)
			return AG_ERR_INVALID;
		p += 9;
		if (*p == '.') { /* fractions of a second are dropped */
			p++;
			if (*p < '0' || *p > '9')
				return AG_ERR_INVALID;
			while (*p >= '0' && *p <= '9')
				p++;
		}
		if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
			offset = 0;
		} else if ((*p == '+' || *p == '-') && strlen(p) == 6 &&
			   p[3] == ':') {
			unsigned oh, om;
			if (!digits(p + 1, 2, &oh) || !digits(p + 4, 2, &om) ||
			    oh > 23 || om > 59)
				return AG_ERR_INVALID;
			offset = (int64_t)(oh * 3600 + om * 60);
			if (*p == '-')
				offset = -offset;
		} else {
			return AG_ERR_INVALID; /* a time needs its zone */
		}
	}
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se -
	       offset;
	return AG_OK;
}

void ag_duration_format(int64_t secs, char *buf, size_t len)
{
	if (secs <= 0)
		snprintf(buf, len, "0s");
	else if (secs % 86400 == 0 && secs >= 2 * 86400)
		snprintf(buf, len, "%lldd", (long long)(secs / 86400));
	else if (secs % 3600 == 0)
		snprintf(buf, len, "%lldh", (long long)(secs / 3600));
	else if (secs % 60 == 0)
		snprintf(buf, len, "%lldm", (long long)(secs / 60));
	else
		snprintf(buf, len, "%llds", (long long)secs);
}

/* ---- reauthentication profiles (docs/policy.md) ------------------------- */

/*
 * SP 800-63B-4 §2.1.3, §2.2.3 and §2.3.3; SP 800-63B-3 §4.1.3, §4.2.3 and
 * §4.3.3.  Index by AAL; 0 means no limit.
 */
static const struct ag_window windows[2][4] = {
	[AG_PROFILE_SP800_63B_4] = {
		{0, 0},
		{30 * 86400, 0},
		{24 * 3600, 3600},
		{12 * 3600, 15 * 60},
	},
	[AG_PROFILE_SP800_63B_3] = {
		{0, 0},
		{30 * 86400, 0},
		{12 * 3600, 30 * 60},
		{12 * 3600, 15 * 60},
	},
};

ag_code ag_profile_window(enum ag_profile profile, int aal,
			  struct ag_window *out)
{
	if ((unsigned)profile > AG_PROFILE_SP800_63B_3 || aal < 1 || aal > 3)
		return AG_ERR_USAGE;
	*out = windows[profile][aal];
	return AG_OK;
}

const char *ag_profile_name(enum ag_profile profile)
{
	return profile == AG_PROFILE_SP800_63B_3 ? "sp800-63b-3" : "sp800-63b-4";
}

const char *ag_device_name(enum ag_device d)
{
	switch (d) {
	case AG_DEVICE_KNOWN:
		return "known";
	case AG_DEVICE_MANAGED:
		return "managed";
	case AG_DEVICE_ANY:
		break;
	}
	return "any";
}

const char *ag_account_kind_name(enum ag_account_kind k)
{
	static const char *const names[AG_KIND_COUNT] = {
		"human", "service", "mailbox", "phone", "device", "external",
	};
	if ((unsigned)k >= AG_KIND_COUNT)
		return "unknown";
	return names[k];
}

void ag_workflow_need(const struct ag_workflow *w,
		      const struct ag_assurance *own, struct ag_workflow *out)
{
	*out = *w;
	if (w->aal == AG_AAL_MATCH_ACCOUNT && own && own->aal >= 1) {
		out->aal = own->aal;
		out->phishing_resistant =
			w->phishing_resistant || own->phishing_resistant;
		out->hardware = w->hardware || own->hardware;
	}
	if (out->aal == 3)
		out->hardware = true;
}

bool ag_workflow_satisfied(const struct ag_workflow *w,
			   const struct ag_assurance *a)
{
	if (w->aal < 0)
		return false;
	if (a->aal < w->aal)
		return false;
	if (w->phishing_resistant && !a->phishing_resistant)
		return false;
	if (w->hardware && !a->hardware)
		return false;
	return true;
}
