/*
 * sshd and sudo lines of a syslog auth.log (/var/log/auth.log,
 * /var/log/secure).
 *
 * A line is [<PRI>]TIME HOST TAG: MESSAGE, TIME either the traditional
 * "Mmm dd HH:MM:SS" (RFC 3164; the day may be padded with a space) or an
 * RFC 3339 stamp (rsyslog's high-precision format), or an RFC 5424 line,
 * "<PRI>1 TIME HOST APP-NAME PROCID MSGID STRUCTURED-DATA [MESSAGE]"
 * (rsyslog's RSYSLOG_SyslogProtocol23Format, syslog-ng's syslog()
 * destination): its structured data is stepped over, a byte order mark
 * before the message is dropped, and a line without a time ("-") is
 * skipped, since no rule can place it.  The traditional
 * stamp has no year: the reader's default_year is used, or when none was
 * given the current year, and the year before for a stamp that would be
 * more than a day ahead (December's lines read in January).  Neither it nor a
 * stamp without an offset says which time zone it is in; such times are
 * taken as UTC, so a host logging in local time is off by its offset.
 *
 * sshd (also sshd-session and sshd-auth, OpenSSH 9.8 and later), from
 * OpenSSH's auth_log():
 *   "Accepted|Failed|Partial METHOD for [invalid user ]USER from ADDR port
 *    N ssh2[: KEY]"
 * Accepted and Failed lines are sign-ins (login, protocol ssh,
 * interactive); a Partial line (one step of AuthenticationMethods) is
 * remembered for its process and added to the Accepted line that follows.
 * Methods: password is password; publickey is software_key, or
 * security_key for a FIDO key (key types ending in -SK: ECDSA-SK,
 * ED25519-SK); keyboard-interactive (PAM), gssapi-with-mic and hostbased
 * say nothing of what the user proved, so the assurance of a sign-in that
 * used one is unknown.  "Invalid user USER from ADDR" is a failed sign-in.
 * The address is the last " from ADDR port N" that parses: a user name is
 * the client's to choose and may hold " from ".
 *
 * sudo: "USER : [REASON ; ]TTY=... ; PWD=... ; USER=... ; COMMAND=..."
 * is access (no workflow, interactive); a reason ("3 incorrect password
 * attempts", "user NOT in sudoers", "command not allowed") makes it a
 * failure.
 *
 * Other lines of the log (pam_unix session lines, "Connection from",
 * other programs) are recognised and ignored.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "read-int.h"
#include "banned.h"

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "Mmm dd HH:MM:SS" at *pp, in the default year. */
static bool bsd_stamp(const struct ag_event_reader *r, const char **pp,
		      const char *end, int64_t *ms)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *p = *pp;
	unsigned m = 0, day = 0, h, mi, s;

	if (end - p < 15)
		return false;
	for (unsigned i = 0; i < 12 && !m; i++)
		if (!memcmp(p, months + 3 * i, 3))
			m = i + 1;
	if (!m || p[3] != ' ')
		return false;
	p += 4;
	if (*p == ' ')
		p++;
	if (p >= end || !digit(*p))
		return false;
	day = (unsigned)(*p++ - '0');
	if (p < end && digit(*p))
		day = day * 10 + (unsigned)(*p++ - '0');
	if (end - p < 9 || p[0] != ' ' || !digit(p[1]) || !digit(p[2]) ||
	    p[3] != ':' || !digit(p[4]) || !digit(p[5]) || p[6] != ':' ||
	    !digit(p[7]) || !digit(p[8]))
		return false;
	h = (unsigned)((p[1] - '0') * 10 + (p[2] - '0'));
	mi = (unsigned)((p[4] - '0') * 10 + (p[5] - '0'));
	s = (unsigned)((p[7] - '0') * 10 + (p[8] - '0'));
	int64_t year = r->default_year;
	int64_t secs = (int64_t)(h * 3600 + mi * 60 + s);
	if (!wr_valid_date(year, m, day) || h > 23 || mi > 59 || s > 60)
		return false;
	*ms = (wr_days(year, m, day) * 86400 + secs) * 1000;
	/* December's lines read in January: without a year given, a stamp
	 * more than a day ahead of now is last year's. */
	if (r->year_auto && *ms > r->made_ms + 86400000 &&
	    wr_valid_date(year - 1, m, day))
		*ms = (wr_days(year - 1, m, day) * 86400 + secs) * 1000;
	*pp = p + 9;
	return true;
}

static uint64_t proc_key(const char *host, size_t hn, const char *pid,
			 size_t pn)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < hn; i++)
		h = (h ^ (unsigned char)host[i]) * 1099511628211ULL;
	h = (h ^ '[') * 1099511628211ULL;
	for (size_t i = 0; i < pn; i++)
		h = (h ^ (unsigned char)pid[i]) * 1099511628211ULL;
	return h | 1;
}

/* The method a sshd method name stands for: >= 0 a catalogue index,
 * -1 none ("none"), -2 unknown to aalgate. */
static int ssh_method(const struct ag_event_reader *r, const char *m,
		      size_t n, const char *key)
{
	if (n == 8 && !memcmp(m, "password", 8))
		return wr_method(r, "password");
	if (n == 9 && !memcmp(m, "publickey", 9)) {
		/* The key's type: "ED25519-SK SHA256:..." */
		size_t kn = key ? strcspn(key, " ") : 0;
		bool sk = (kn > 3 && !memcmp(key + kn - 3, "-SK", 3)) ||
			  (kn > 8 && !memcmp(key + kn - 8, "-SK-CERT", 8));
		return wr_method(r, sk ? "security_key" : "software_key");
	}
	if (n == 4 && !memcmp(m, "none", 4))
		return -1;
	return -2;
}

/* " from ADDR port N[ ssh2[: KEY]]" or " from ADDR" (at the end) at s:
 * the address into ip (NUL-terminated in place) and *key. */
static bool from_tail(char *s, const char **ip, const char **key)
{
	char *a = s + 6, *sp = strchr(a, ' ');
	size_t an = sp ? (size_t)(sp - a) : strlen(a);
	char addr[64];
	unsigned char bin[16];

	if (!an || an >= sizeof(addr))
		return false;
	memcpy(addr, a, an);
	addr[an] = '\0';
	if (inet_pton(AF_INET, addr, bin) != 1 &&
	    inet_pton(AF_INET6, addr, bin) != 1)
		return false;
	*key = NULL;
	if (sp) {
		char *p = sp;
		if (strncmp(p, " port ", 6))
			return false;
		p += 6;
		if (!digit(*p))
			return false;
		while (digit(*p))
			p++;
		while (*p == ' ')
			p++;
		if (!strncmp(p, "ssh2", 4)) {
			p += 4;
			if (!strncmp(p, ": ", 2))
				*key = p + 2;
			else if (*p)
				return false;
		} else if (*p) {
			return false;
		}
	}
	a[an] = '\0';
	*ip = a;
	return true;
}

/* Splits "USER from ADDR ..." at the last " from " whose tail parses. */
static bool user_from(char *s, const char **user, const char **ip,
		      const char **key)
{
	for (size_t i = strlen(s); i-- > 0;)
		if (s[i] == ' ' && !strncmp(s + i, " from ", 6) &&
		    from_tail(s + i, ip, key)) {
			s[i] = '\0';
			*user = s;
			return true;
		}
	return false;
}

static enum wr_map sshd(struct ag_event_reader *r, char *msg,
			const char *host, size_t hn, const char *pid,
			size_t pn)
{
	struct ag_event *ev = &r->ev;
	const char *user, *ip, *key;
	int outcome; /* 1 accepted, 0 failed, 2 partial */

	if (!strncmp(msg, "Invalid user ", 13) ||
	    !strncmp(msg, "Illegal user ", 13)) {
		if (!user_from(msg + 13, &user, &ip, &key))
			return WR_IGNORED;
		ev->kind = AG_EV_LOGIN;
		ev->result = AG_RES_FAILURE;
		ev->subject = user;
		ev->ip = ip;
		ev->protocol = "ssh";
		ev->interactive = true;
		ev->action = "sshd invalid user";
		return WR_EVENT;
	}
	if (!strncmp(msg, "Accepted ", 9)) {
		outcome = 1;
		msg += 9;
	} else if (!strncmp(msg, "Failed ", 7)) {
		outcome = 0;
		msg += 7;
	} else if (!strncmp(msg, "Partial ", 8)) {
		outcome = 2;
		msg += 8;
	} else {
		return WR_IGNORED;
	}
	char *method = msg, *sp = strchr(msg, ' ');
	if (!sp || strncmp(sp, " for ", 5))
		return WR_IGNORED;
	size_t mn = (size_t)(sp - method);
	char *rest = sp + 5;
	if (!strncmp(rest, "invalid user ", 13) ||
	    !strncmp(rest, "illegal user ", 13))
		rest += 13;
	if (!user_from(rest, &user, &ip, &key))
		return WR_IGNORED;
	/* keyboard-interactive/pam: the method before the '/'. */
	size_t base = 0;
	while (base < mn && method[base] != '/')
		base++;
	int k = ssh_method(r, method, base, key);

	uint64_t pk = proc_key(host, hn, pid, pn);
	struct wr_partial *slot = NULL;
	for (unsigned i = 0; i < WR_PARTIALS; i++)
		if (r->partials[i].key == pk &&
		    !strcmp(r->partials[i].user, user))
			slot = &r->partials[i];

	if (outcome == 2) {
		if (strlen(user) >= sizeof(slot->user))
			return WR_IGNORED;
		if (!slot) {
			slot = &r->partials[r->partial_next++ % WR_PARTIALS];
			memset(slot, 0, sizeof(*slot));
			slot->key = pk;
			memcpy(slot->user, user, strlen(user) + 1);
		}
		/* 0xFFFF: a method aalgate cannot judge; 0xFFFE: none */
		if (slot->n < AG_ARRAY_SIZE(slot->methods))
			slot->methods[slot->n++] =
				(uint16_t)(k >= 0    ? k
					   : k == -2 ? 0xFFFF
						     : 0xFFFE);
		return WR_IGNORED;
	}

	bool unknown = k == -2;
	if (slot && outcome == 1) {
		for (uint8_t i = 0; i < slot->n; i++) {
			if (slot->methods[i] == 0xFFFF)
				unknown = true;
			else if (slot->methods[i] != 0xFFFE)
				wr_add_method(ev, slot->methods[i]);
		}
	}
	if (slot)
		memset(slot, 0, sizeof(*slot));
	if (k >= 0)
		wr_add_method(ev, k);
	ev->kind = AG_EV_LOGIN;
	ev->result = outcome ? AG_RES_SUCCESS : AG_RES_FAILURE;
	ev->subject = user;
	ev->ip = ip;
	ev->protocol = "ssh";
	ev->interactive = true;
	ev->action = outcome ? "sshd accepted" : "sshd failed";
	if (!unknown)
		wr_assure_methods(r, ev);
	return WR_EVENT;
}

static enum wr_map sudo(struct ag_event_reader *r, char *msg)
{
	struct ag_event *ev = &r->ev;
	char *sep = strstr(msg, " : ");

	if (!sep || !strstr(sep, "COMMAND="))
		return WR_IGNORED;
	char *user = msg;
	while (*user == ' ')
		user++;
	*sep = '\0';
	if (!*user)
		return WR_IGNORED;
	char *fields = sep + 3;
	char *semi = strstr(fields, " ; ");
	size_t first = semi ? (size_t)(semi - fields) : strlen(fields);
	ev->result = memchr(fields, '=', first) ? AG_RES_SUCCESS
						: AG_RES_FAILURE;
	ev->kind = AG_EV_ACCESS;
	ev->subject = user;
	ev->interactive = true;
	ev->action = "sudo";
	return WR_EVENT;
}

/* The lines of the programs read: sshd's and sudo's. */
static enum wr_map by_program(struct ag_event_reader *r, char *msg,
			      const char *prog, size_t progn,
			      const char *host, size_t hn, const char *pid,
			      size_t pn)
{
	if (progn >= 4 && !memcmp(prog, "sshd", 4) &&
	    (progn == 4 || prog[4] == '-'))
		return sshd(r, msg, host, hn, pid, pn);
	if (progn == 4 && !memcmp(prog, "sudo", 4))
		return sudo(r, msg);
	return WR_IGNORED;
}

/* Steps over RFC 5424 STRUCTURED-DATA at *pp: "-", or one or more
 * [ID PARAM="VALUE" ...] elements, where a value may hold \", \\ and \]. */
static bool structured_data(const char **pp, const char *end)
{
	const char *p = *pp;

	if (p < end && *p == '-') {
		*pp = p + 1;
		return true;
	}
	if (p >= end || *p != '[')
		return false;
	while (p < end && *p == '[') {
		bool quoted = false;
		for (p++; p < end && (quoted || *p != ']'); p++)
			if (quoted && *p == '\\' && p + 1 < end)
				p++;
			else if (*p == '"')
				quoted = !quoted;
		if (p >= end)
			return false;
		p++; /* the ']' */
	}
	*pp = p;
	return true;
}

/* An RFC 5424 header field at *pp, which a space ends. */
static bool field5424(const char **pp, const char *end, const char **f,
		      size_t *n)
{
	const char *p = *pp, *sp = memchr(p, ' ', (size_t)(end - p));

	if (!sp || sp == p)
		return false;
	*f = p;
	*n = (size_t)(sp - p);
	*pp = sp + 1;
	return true;
}

/* RFC 5424 §6, after "<PRI>1 ": TIMESTAMP HOSTNAME APP-NAME PROCID MSGID
 * STRUCTURED-DATA [SP MSG]; "-" is the nil value of each. */
static enum wr_map rfc5424(struct ag_event_reader *r, char *line,
			   const char *p, const char *end)
{
	enum { TIME, HOST, APP, PROCID, MSGID, N };
	const char *f[N];
	size_t n[N];

	for (int i = 0; i < N; i++)
		if (!field5424(&p, end, &f[i], &n[i]))
			return wr_skip(r, "an RFC 5424 header cut short");
	if (n[TIME] == 1 && f[TIME][0] == '-')
		return wr_skip(r, "an RFC 5424 line without a time");
	if (!wr_time_rfc3339(f[TIME], n[TIME], &r->ev.time_ms))
		return wr_skip(r, "a bad date '%.*s'",
			       (int)(n[TIME] < 40 ? n[TIME] : 40), f[TIME]);
	if (!structured_data(&p, end) || (p < end && *p != ' '))
		return wr_skip(r, "bad RFC 5424 structured data");
	if (p < end)
		p++;
	if (end - p >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
		p += 3;
	bool nil_pid = n[PROCID] == 1 && f[PROCID][0] == '-';
	return by_program(r, line + (p - line), f[APP], n[APP], f[HOST],
			  n[HOST], f[PROCID], nil_pid ? 0 : n[PROCID]);
}

enum wr_map wr_map_authlog(struct ag_event_reader *r, char *line, size_t len)
{
	struct ag_event *ev = &r->ev;
	const char *p = line, *end = line + len;

	if (p < end && *p == '<') {
		const char *q = p + 1;
		while (q < end && q - p <= 4 && digit(*q))
			q++;
		if (q == p + 1 || q >= end || *q != '>')
			return wr_skip(r, "a bad <priority>");
		p = q + 1;
		/* RFC 5424: a VERSION, 1 to 3 digits, the first not 0. */
		q = p;
		while (q < end && q - p < 3 && digit(*q))
			q++;
		if (q > p && *p != '0' && q < end && *q == ' ') {
			if (q - p != 1 || *p != '1')
				return wr_skip(r, "RFC 5424 version %.*s, not 1",
					       (int)(q - p), p);
			return rfc5424(r, line, q + 1, end);
		}
	}
	if (end - p >= 5 && digit(p[0]) && digit(p[1]) && digit(p[2]) &&
	    digit(p[3]) && p[4] == '-') {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		size_t tn = sp ? (size_t)(sp - p) : (size_t)(end - p);
		if (!sp || !wr_time_rfc3339(p, tn, &ev->time_ms))
			return wr_skip(r, "a bad date '%.*s'",
				       (int)(tn < 40 ? tn : 40), p);
		p = sp;
	} else if (!bsd_stamp(r, &p, end, &ev->time_ms)) {
		return wr_skip(r, "a bad date '%.15s'", p);
	}
	while (p < end && *p == ' ')
		p++;
	const char *host = p;
	while (p < end && *p != ' ')
		p++;
	size_t hn = (size_t)(p - host);
	if (!hn || p >= end)
		return wr_skip(r, "no host and message after the date");
	p++;
	/* TAG: program[pid]: */
	const char *tag = p;
	while (p < end && *p != ':' && *p != ' ')
		p++;
	if (p >= end || *p != ':')
		return WR_IGNORED;
	const char *br = memchr(tag, '[', (size_t)(p - tag));
	size_t progn = br ? (size_t)(br - tag) : (size_t)(p - tag);
	const char *pid = br ? br + 1 : p;
	size_t pn = br && p[-1] == ']' ? (size_t)(p - 1 - pid) : 0;
	char *msg = line + (p + 1 - line);
	while (*msg == ' ')
		msg++;

	return by_program(r, msg, tag, progn, host, hn, pid, pn);
}
