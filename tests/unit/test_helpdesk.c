/*
 * Recovery against the state store and help-desk resets (docs/govern.md,
 * §4.3): the account's level from the store and never lowered by a
 * request, spent codes refused, codes spent before a recovery counts
 * (eight threads racing with one code: one wins), the journal rows and
 * their notification obligation; the help desk's agent (AAL1 refused,
 * AAL2 accepted, their own account refused, a helpdesk workflow held),
 * knowledge-based verification under the names tools give it, lost
 * authenticators removed; and the HTTP answers that need no token.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "testutil.h"
#include "aalgate/gate.h"
#include "aalgate/govern.h"
#include "gate/api-govern.h"
#include "govern/store-int.h"
#include "util.h"

#define NOW ((int64_t)1800000000)
#define MIN ((int64_t)60)
#define HOUR ((int64_t)3600)

static const char policy_yaml[] =
	"workflows:\n"
	"  staff: { aal: 2 }\n"
	"  recovery: { aal: match_account }\n"
	"trusted_proxies: [192.0.2.10/32]\n";

/* Two notification addresses, as the requests below give them. */
#define NOTIFY                                                          \
	"\"notify\": [{\"channel\": \"email\", \"address\": "             \
	"\"a@example.org\"}, {\"channel\": \"sms\", \"address\": "        \
	"\"+15550100\"}]"

struct fix {
	char dir[256];
	char db[300];
	char log[300];
	struct ag_policy *p;
	struct ag_store *s;
};

static void add(struct fix *f, const char *account, const char *method,
		int auth_aal)
{
	struct ag_enroll_auth auth = {.assurance = {.aal = auth_aal},
				      .source = "asserted"};
	struct ag_error err;
	ag_error_init(&err);
	if (ag_store_enroll_add(f->s, f->p, account, method, NULL,
				auth_aal < 0 ? NULL : &auth, NOW - HOUR, NULL,
				&err) != AG_OK)
		fail_msg("enrol %s %s: %s", account, method, err.msg);
}

static void address(struct fix *f, const char *account,
		    enum ag_recovery_channel ch, const char *addr)
{
	struct ag_error err;
	bool changed = false;
	ag_error_init(&err);
	if (ag_store_address_set(f->s, account, ch, addr, true, NOW - HOUR,
				 &changed, &err) != AG_OK || !changed)
		fail_msg("address %s %s: %s", account, addr, err.msg);
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct ag_error err;
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/ag-helpdesk-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/state.db", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/decisions.jsonl", f->dir);
	f->p = policy_ok(policy_yaml);
	struct ag_store_opts o = {.connections = 9};
	ag_error_init(&err);
	if (ag_store_open(f->db, &o, &f->s, &err) != AG_OK)
		fail_msg("open: %s", err.msg);
	/* root is at AAL3, alice at AAL2, dave at AAL1. */
	add(f, "root", "security_key_uv", -1);
	add(f, "alice", "password", -1);
	add(f, "alice", "totp", 1);
	add(f, "dave", "password", -1);
	/* Their addresses of record: the two NOTIFY names, and root's by
	 * post. */
	static const char *const who[] = {"root", "alice", "dave"};
	for (size_t i = 0; i < 3; i++) {
		address(f, who[i], AG_CHANNEL_EMAIL, "a@example.org");
		address(f, who[i], AG_CHANNEL_SMS, "+15550100");
	}
	address(f, "root", AG_CHANNEL_POSTAL, "1 Main St");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char p[600];
	ag_store_close(f->s);
	DIR *d = opendir(f->dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(f->dir);
	ag_policy_free(f->p);
	free(f);
	return 0;
}

/* ---- common steps ------------------------------------------------------ */

static void parse_stored(const char *json, struct ag_recovery_request *r)
{
	struct ag_error err;
	ag_error_init(&err);
	if (ag_recovery_request_parse_stored("r.json", json, strlen(json), r,
					     &err) != AG_OK)
		fail_msg("parse: %s", err.msg);
}

/* Runs json against the store at now; returns the code. */
static ag_code run(struct fix *f, const char *json, int64_t now,
		   struct ag_recovery_result *res,
		   struct ag_recovery_state *st, struct ag_error *err)
{
	struct ag_recovery_request r;
	parse_stored(json, &r);
	ag_error_init(err);
	ag_code rc = ag_recovery_run(f->s, f->p, &r, "r.json",
				     AG_RECOVERY_VIA_CLI, now, res, st, err);
	ag_recovery_request_release(&r);
	return rc;
}

static bool refused_for(const struct ag_recovery_result *res,
			enum ag_recovery_reason why)
{
	for (size_t i = 0; i < res->n_notes; i++)
		if (res->notes[i].refusal && res->notes[i].reason == why)
			return true;
	return false;
}

/* The journal drained into the decision log, as JSON records. */
static json_t *journal(struct fix *f)
{
	struct ag_dlog *l = NULL;
	struct ag_error err;
	ag_error_init(&err);
	assert_int_equal(ag_dlog_open(f->log, &l, &err), AG_OK);
	assert_int_equal(ag_store_journal_drain(f->s, l, NULL, &err), AG_OK);
	ag_dlog_close(l);
	json_t *arr = json_array();
	FILE *fp = fopen(f->log, "r");
	char line[70000];
	while (fp && fgets(line, sizeof(line), fp)) {
		json_error_t je;
		json_t *o = json_loads(line, 0, &je);
		if (!o)
			fail_msg("bad log line: %s", line);
		json_array_append_new(arr, o);
	}
	if (fp)
		fclose(fp);
	return arr;
}

/* The last record of type in recs (borrowed), or NULL. */
static json_t *last_of(json_t *recs, const char *type)
{
	json_t *found = NULL;
	for (size_t i = 0; i < json_array_size(recs); i++) {
		json_t *r = json_array_get(recs, i);
		const char *t = json_string_value(json_object_get(r, "type"));
		if (t && !strcmp(t, type))
			found = r;
	}
	return found;
}

static size_t count_of(json_t *recs, const char *type)
{
	size_t n = 0;
	for (size_t i = 0; i < json_array_size(recs); i++) {
		const char *t = json_string_value(
			json_object_get(json_array_get(recs, i), "type"));
		n += t && !strcmp(t, type);
	}
	return n;
}

static const char *s_of(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	if (!v)
		fail_msg("no string '%s'", key);
	return v;
}

static void claims_of(const char *json, struct ag_claims *c)
{
	ag_claims_init(c);
	assert_int_equal(ag_claims_parse(json, strlen(json), NULL, c),
			 AG_TOK_OK);
}

/* ---- names: knowledge-based verification ------------------------------- */

static void test_kba_names(void **state)
{
	(void)state;
	static const struct {
		const char *name, *kba;
	} cases[] = {
		{"kba", "kba"},
		{"date_of_birth", "date_of_birth"},
		{"Date of Birth", "date_of_birth"},
		{"DOB", "date_of_birth"},
		{"caller gave DOB", "date_of_birth"},
		{"ssn_last4", "government_id"},
		{"last 4 of SSN", "government_id"},
		{"last-four-of-card", "government_id"},
		{"id_number", "government_id"},
		{"passport number", "government_id"},
		{"home address", "address"},
		{"zip", "address"},
		{"Mother's maiden name", "mothers_maiden_name"},
		{"security_question", "security_question"},
		{"name of first pet", "security_question"},
		{"knows employee id", "employee_details"},
		{"employee_id", "employee_details"},
		{"manager's name", "employee_details"},
		{"account_number", "account_details"},
		{"last transaction amount", "account_details"},
		{"full name", "personal_details"},
		{"knowledge-based", "kba"},
		{"email address and date of birth", "date_of_birth"},
		{"home address, not the email address", "address"},
		{"card number", "account_details"},
		/* initials spelt out, and the near words */
		{"D.O.B. confirmed", "date_of_birth"},
		{"S.S.N. matched", "government_id"},
		{"caller gave M.M.N.", "mothers_maiden_name"},
		{"s s n", "government_id"},
		{"postal code matched", "address"},
		{"verified social", "government_id"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = ag_helpdesk_kba(cases[i].name);
		if (!got || strcmp(got, cases[i].kba))
			fail_msg("'%s': got %s, expected %s", cases[i].name,
				 got ? got : "NULL", cases[i].kba);
	}
	/* Evidence kinds, and checks that are not KBA. */
	static const char *const not_kba[] = {
		"saved_code", "issued_code", "recovery_contact", "reproofing",
		"authenticator", "called back the number on file",
		"video call with photo ID", "ticket opened", "", "___",
		"payrollcheck", "agenda", "named", "manager approval",
		"sent a code to the email address on file", "smart card",
		"checked the IP address", "security key",
		"I.T. ticket", "a b c", "e-mail sent", "mother's approval",
	};
	for (size_t i = 0; i < sizeof(not_kba) / sizeof(not_kba[0]); i++)
		if (ag_helpdesk_kba(not_kba[i]))
			fail_msg("'%s' taken for KBA (%s)", not_kba[i],
				 ag_helpdesk_kba(not_kba[i]));
	assert_null(ag_helpdesk_kba(NULL));
}

/* ---- the help-desk request --------------------------------------------- */

static void test_helpdesk_parse(void **state)
{
	struct fix *f = *state;
	struct ag_recovery_request rec;
	struct ag_helpdesk_request hd;
	struct ag_error err;
	const char *ok =
		"{\"account\": \"alice\", \"ticket\": \"INC-1\", " NOTIFY ","
		" \"evidence\": [{\"kind\": \"date_of_birth\", \"value\": "
		"\"1980-01-01\"}, {\"kind\": \"saved_code\", \"code_id\": "
		"\"s1\"}, {\"kind\": \"authenticator\", \"method\": "
		"\"security_question\"}],"
		" \"verified\": [\"called back\", \"Mother's maiden name\"],"
		" \"lost\": [{\"method\": \"totp\"}]}";

	ag_error_init(&err);
	assert_int_equal(ag_helpdesk_request_parse(f->p, "hd.json", ok,
						   strlen(ok), true, &rec, &hd,
						   &err),
			 AG_OK);
	assert_string_equal(rec.account, "alice");
	assert_string_equal(hd.ticket, "INC-1");
	assert_int_equal(rec.n_evidence, 3);
	/* KBA under any name is kba evidence, and its value is gone. */
	assert_int_equal(rec.evidence[0].kind, AG_RECOVERY_KBA);
	assert_int_equal(rec.evidence[2].kind, AG_RECOVERY_KBA);
	assert_null(rec.evidence[2].method);
	assert_int_equal(hd.n_kba, 2);
	assert_int_equal(hd.kba[0].evidence, 0);
	assert_string_equal(hd.kba[0].given, "date_of_birth");
	assert_string_equal(hd.kba[0].kba, "date_of_birth");
	assert_int_equal(hd.kba[1].evidence, 2);
	assert_string_equal(hd.kba[1].kba, "security_question");
	assert_int_equal(hd.n_verified, 2);
	assert_null(hd.verified[0].kba);
	assert_string_equal(hd.verified[1].kba, "mothers_maiden_name");
	assert_int_equal(hd.n_lost, 1);
	assert_string_equal(hd.lost[0].method, "totp");
	assert_string_equal(hd.lost[0].label, "");
	ag_helpdesk_request_release(&hd);
	ag_recovery_request_release(&rec);

	static const struct {
		const char *json, *msg;
		bool stored;
		ag_code code;
	} bad[] = {
		{"{\"level\": 2, \"evidence\": []}",
		 "hd.json: 'account' is required: the account being reset",
		 false, AG_ERR_INVALID},
		{"{\"account\": \"a\", \"level\": 2, \"evidence\": "
		 "[{\"kind\": \"callback\"}]}",
		 "hd.json: evidence[0]: unknown kind 'callback'", false,
		 AG_ERR_INVALID},
		{"{\"account\": \"a\", \"level\": 2, \"evidence\": "
		 "[{\"kind\": \"saved_cod\", \"code_id\": \"x\"}]}",
		 "hd.json: evidence[0]: unknown kind 'saved_cod'; did you "
		 "mean 'saved_code'?",
		 false, AG_ERR_INVALID},
		{"{\"account\": \"a\", \"level\": 2, \"evidence\": [], "
		 "\"lost\": [{\"method\": \"totp\"}]}",
		 "hd.json: 'lost' removes enrolments, which needs the state "
		 "store (--state)",
		 false, AG_ERR_INVALID},
		{"{\"account\": \"a\", \"evidence\": [], \"lost\": "
		 "[{\"methd\": \"totp\"}]}",
		 "hd.json: lost[0]: unknown key 'methd'; did you mean "
		 "'method'?",
		 true, AG_ERR_INVALID},
		{"{\"account\": \"a\", \"evidence\": [], \"verified\": "
		 "\"dob\"}",
		 "hd.json: 'verified' must be a list of the checks the agent "
		 "made, as strings",
		 true, AG_ERR_INVALID},
		{"{\"account\": \"a\", \"evidence\": [], \"now\": 5}",
		 "hd.json: 'now' cannot be set when the state store is used: "
		 "a recovery that spends codes happens at the current time",
		 true, AG_ERR_INVALID},
		{"{\"account\": \"a\",\n \"evidence\": [}",
		 "hd.json:2:15: unexpected token near '}'", true,
		 AG_ERR_SYNTAX},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ag_error_init(&err);
		ag_code rc = ag_helpdesk_request_parse(
			f->p, "hd.json", bad[i].json, strlen(bad[i].json),
			bad[i].stored, &rec, &hd, &err);
		if (rc != bad[i].code || strcmp(err.msg, bad[i].msg))
			fail_msg("case %zu: %d '%s'", i, rc, err.msg);
		assert_null(hd.verified);
		assert_null(rec.evidence);
	}
}

/* ---- against the store ------------------------------------------------- */

/* The IAL an AAL3 account was proofed at decides its recovery rule
 * (§4.2.2.3): once the store records IAL3, a request that says IAL2
 * cannot bring the account down to the AAL2 rule. */
static void test_ial_not_lowered(void **state)
{
	struct fix *f = *state;
	struct ag_recovery_result res;
	struct ag_recovery_state st;
	struct ag_error err;
	char json[600];
	bool changed;
	int ial;

	snprintf(json, sizeof(json),
		 "{\"account\": \"root\", \"ial\": 2, " NOTIFY ", "
		 "\"evidence\": [{\"kind\": \"saved_code\", \"code_id\": "
		 "\"i1\"}]}");
	/* Nothing recorded: the request's IAL2 gives the AAL2 rule. */
	assert_int_equal(ag_store_account_ial(f->s, "root", &ial, &err), AG_OK);
	assert_int_equal(ial, AG_IAL_UNKNOWN);
	assert_int_equal(run(f, json, NOW, &res, &st, &err), AG_OK);
	assert_int_equal(res.rule, AG_RULE_AAL3_AS_AAL2);
	assert_int_equal(res.account_ial, 2);
	assert_false(st.request_ial_ignored);
	assert_int_equal(st.store_ial, AG_IAL_UNKNOWN);

	ag_error_init(&err);
	assert_int_equal(ag_store_account_ial_set(f->s, "root", 3, NOW,
						  &changed, &err),
			 AG_OK);
	assert_true(changed);
	assert_int_equal(ag_store_account_ial_set(f->s, "root", 3, NOW,
						  &changed, &err),
			 AG_OK);
	assert_false(changed);
	assert_int_equal(ag_store_account_ial_set(f->s, "root", 4, NOW,
						  &changed, &err),
			 AG_ERR_INVALID);
	assert_string_equal(err.msg, "an IAL is 0, 1, 2 or 3, not 4");
	assert_int_equal(ag_store_account_ial(f->s, "root", &ial, &err), AG_OK);
	assert_int_equal(ial, 3);

	/* Recorded IAL3: the same request is held to onsite re-proofing,
	 * and told why. */
	assert_int_equal(run(f, json, NOW, &res, &st, &err), AG_OK);
	assert_false(res.accepted);
	assert_int_equal(res.rule, AG_RULE_AAL3_IAL3);
	assert_int_equal(res.account_ial, 3);
	assert_int_equal(st.store_ial, 3);
	assert_int_equal(st.request_ial, 2);
	assert_true(st.request_ial_ignored);
	bool warned = false;
	for (size_t i = 0; i < res.n_notes; i++)
		warned |= !res.notes[i].refusal &&
			  res.notes[i].reason == AG_RW_IAL_MISMATCH &&
			  !strcmp(res.notes[i].text,
				  "the request gives IAL2 but the state store "
				  "records IAL3 for the account; a request may "
				  "raise the IAL, never lower it");
	assert_true(warned);
	/* No IAL in the request: the store's. */
	snprintf(json, sizeof(json),
		 "{\"account\": \"root\", " NOTIFY ", \"evidence\": "
		 "[{\"kind\": \"saved_code\", \"code_id\": \"i2\"}]}");
	assert_int_equal(run(f, json, NOW, &res, &st, &err), AG_OK);
	assert_int_equal(res.rule, AG_RULE_AAL3_IAL3);
	assert_false(st.request_ial_ignored);
}

/* Those told of a recovery are the account's addresses of record: a
 * request that names its own adds nobody and removes nobody, and an
 * account with none on record is refused. */
static void test_addresses_of_record(void **state)
{
	struct fix *f = *state;
	struct ag_recovery_result res;
	struct ag_recovery_state st;
	struct ag_error err;
	char json[600];

	/* alice's recovery, told to an attacker's address only. */
	snprintf(json, sizeof(json),
		 "{\"account\": \"alice\", \"notify\": [{\"channel\": "
		 "\"email\", \"address\": \"evil@example.net\"}], "
		 "\"evidence\": [{\"kind\": \"issued_code\", \"channel\": "
		 "\"email\", \"issued_at\": %lld, \"code_id\": \"r1\"}, "
		 "{\"kind\": \"authenticator\", \"method\": \"password\"}]}",
		 (long long)(NOW - MIN));
	assert_int_equal(run(f, json, NOW, &res, &st, &err), AG_OK);
	assert_true(res.accepted);
	assert_int_equal(st.n_of_record, 2);
	assert_int_equal(st.request_addresses_ignored, 1);
	assert_int_equal(res.n_notify, 2);
	assert_int_equal(res.notify[0].channel, AG_CHANNEL_EMAIL);
	assert_string_equal(res.notify[0].address, "a@example.org");
	assert_int_equal(res.notify[1].channel, AG_CHANNEL_SMS);
	assert_string_equal(res.notify[1].address, "+15550100");
	bool warned = false;
	for (size_t i = 0; i < res.n_notes; i++)
		warned |= !res.notes[i].refusal &&
			  res.notes[i].reason == AG_RW_NOT_ON_RECORD &&
			  !strcmp(res.notes[i].text,
				  "1 notification address in the request is "
				  "not on record for the account and will not "
				  "be told; only the addresses of record are");
	assert_true(warned);
	/* The journal row's obligation names the addresses of record. */
	json_t *recs = journal(f);
	json_t *row = last_of(recs, "recovery");
	assert_non_null(row);
	json_t *to = json_object_get(row, "notify");
	assert_int_equal(json_array_size(to), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(to, 0), "address")),
			    "a@example.org");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(to, 1), "address")),
			    "+15550100");
	assert_int_equal(json_integer_value(json_object_get(
				 row, "request_addresses_ignored")),
			 1);
	json_decref(recs);

	/* The same addresses as on record: nothing ignored, no warning. */
	snprintf(json, sizeof(json),
		 "{\"account\": \"alice\", " NOTIFY ", \"evidence\": "
		 "[{\"kind\": \"issued_code\", \"channel\": \"email\", "
		 "\"issued_at\": %lld, \"code_id\": \"r2\"}, {\"kind\": "
		 "\"authenticator\", \"method\": \"password\"}]}",
		 (long long)(NOW - MIN));
	assert_int_equal(run(f, json, NOW, &res, &st, &err), AG_OK);
	assert_true(res.accepted);
	assert_int_equal(st.request_addresses_ignored, 0);
	for (size_t i = 0; i < res.n_notes; i++)
		assert_int_not_equal(res.notes[i].reason, AG_RW_NOT_ON_RECORD);

	/* erin has an authenticator and no address of record: refused,
	 * whatever the request names, and told where to record them. */
	add(f, "erin", "password", -1);
	snprintf(json, sizeof(json),
		 "{\"account\": \"erin\", " NOTIFY ", \"evidence\": "
		 "[{\"kind\": \"saved_code\", \"code_id\": \"r3\"}]}");
	assert_int_equal(run(f, json, NOW, &res, &st, &err), AG_OK);
	assert_false(res.accepted);
	assert_true(refused_for(&res, AG_RR_NO_NOTIFY_ADDRESS));
	assert_int_equal(st.n_of_record, 0);
	assert_int_equal(res.n_notify, 0);
	warned = false;
	for (size_t i = 0; i < res.n_notes; i++)
		warned |= !res.notes[i].refusal &&
			  res.notes[i].reason == AG_RW_NOT_ON_RECORD &&
			  !strcmp(res.notes[i].text,
				  "the state store holds no notification "
				  "address for 'erin': record the account's "
				  "addresses with `aalgate enroll address`; a "
				  "request's are not taken");
	assert_true(warned);
	/* Once recorded, the same request passes (a new code id). */
	address(f, "erin", AG_CHANNEL_EMAIL, "erin@example.org");
	address(f, "erin", AG_CHANNEL_VOICE, "+15550111");
	snprintf(json, sizeof(json),
		 "{\"account\": \"erin\", \"evidence\": "
		 "[{\"kind\": \"saved_code\", \"code_id\": \"r4\"}]}");
	assert_int_equal(run(f, json, NOW, &res, &st, &err), AG_OK);
	assert_true(res.accepted);
	assert_int_equal(res.n_notify, 2);
	assert_string_equal(res.notify[0].address, "erin@example.org");
	assert_string_equal(res.notify[1].address, "+15550111");
}

/* Adding, removing and listing addresses of record, and the notice a
 * change sends to the addresses held before it. */
static void test_address_set(void **state)
{
	struct fix *f = *state;
	struct ag_store_addresses l = {0};
	struct ag_error err;
	bool changed = true;
	char big[AG_RECOVERY_ADDRESS_MAX + 2];

	ag_error_init(&err);
	/* What is there already: nothing written. */
	assert_int_equal(ag_store_address_set(f->s, "alice", AG_CHANNEL_SMS,
					      "+15550100", true, NOW, &changed,
					      &err),
			 AG_OK);
	assert_false(changed);
	/* Removing what is not there: nothing written. */
	changed = true;
	assert_int_equal(ag_store_address_set(f->s, "alice", AG_CHANNEL_EMAIL,
					      "+15550100", false, NOW,
					      &changed, &err),
			 AG_OK);
	assert_false(changed);
	/* Bad input. */
	assert_int_equal(ag_store_address_set(f->s, "alice", AG_CHANNEL_NONE,
					      "x", true, NOW, NULL, &err),
			 AG_ERR_INVALID);
	assert_int_equal(ag_store_address_set(f->s, "alice", AG_CHANNEL_COUNT,
					      "x", true, NOW, NULL, &err),
			 AG_ERR_INVALID);
	assert_int_equal(ag_store_address_set(f->s, "alice", AG_CHANNEL_EMAIL,
					      "", true, NOW, NULL, &err),
			 AG_ERR_USAGE);
	assert_string_equal(err.msg, "the address is empty");
	assert_int_equal(ag_store_address_set(f->s, "alice", AG_CHANNEL_EMAIL,
					      "a@b\n.org", true, NOW, NULL,
					      &err),
			 AG_ERR_INVALID);
	assert_string_equal(err.msg, "the address holds a control character");
	assert_int_equal(ag_store_address_set(f->s, "alice", AG_CHANNEL_EMAIL,
					      "a\xc2\x9b@b.org", true, NOW,
					      NULL, &err),
			 AG_ERR_INVALID);
	assert_string_equal(err.msg, "the address holds a control character");
	/* A Latin-1 letter (U+00E9) is not a control character. */
	assert_int_equal(ag_store_address_set(f->s, "alice", AG_CHANNEL_POSTAL,
					      "1 Caf\xc3\xa9 St", true, NOW,
					      &changed, &err),
			 AG_OK);
	assert_true(changed);
	assert_int_equal(ag_store_address_set(f->s, "alice", AG_CHANNEL_POSTAL,
					      "1 Caf\xc3\xa9 St", false, NOW,
					      &changed, &err),
			 AG_OK);
	assert_true(changed);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(ag_store_address_set(f->s, "alice", AG_CHANNEL_EMAIL,
					      big, true, NOW, NULL, &err),
			 AG_ERR_LIMIT);
	big[AG_RECOVERY_ADDRESS_MAX] = '\0'; /* exactly the most */
	assert_int_equal(ag_store_address_set(f->s, "alice", AG_CHANNEL_EMAIL,
					      big, true, NOW, &changed, &err),
			 AG_OK);
	assert_true(changed);

	/* Removing one tells it and the rest. */
	assert_int_equal(ag_store_address_set(f->s, "alice", AG_CHANNEL_SMS,
					      "+15550100", false, NOW,
					      &changed, &err),
			 AG_OK);
	assert_true(changed);
	json_t *recs = journal(f);
	json_t *row = last_of(recs, "address_remove");
	assert_non_null(row);
	assert_string_equal(json_string_value(json_object_get(row, "account")),
			    "alice");
	assert_string_equal(json_string_value(json_object_get(row, "channel")),
			    "sms");
	assert_string_equal(json_string_value(json_object_get(row, "address")),
			    "+15550100");
	assert_string_equal(
		json_string_value(json_object_get(row, "obligation")),
		"notify");
	json_t *to = json_object_get(row, "notify");
	assert_int_equal(json_array_size(to), 3);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(to, 2), "address")),
			    "+15550100");
	/* The account's first address has nobody to tell before it. */
	address(f, "frank", AG_CHANNEL_EMAIL, "f@example.org");
	json_decref(recs);
	recs = journal(f);
	row = last_of(recs, "address_add");
	assert_string_equal(json_string_value(json_object_get(row, "account")),
			    "frank");
	assert_null(json_object_get(row, "obligation"));
	json_decref(recs);

	/* The list, in (channel, address) order. */
	assert_int_equal(ag_store_address_list(f->s, "alice", &l, &err),
			 AG_OK);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].channel, AG_CHANNEL_EMAIL);
	assert_string_equal(l.v[0].address, "a@example.org");
	assert_int_equal(l.v[1].channel, AG_CHANNEL_EMAIL);
	assert_int_equal(strlen(l.v[1].address), AG_RECOVERY_ADDRESS_MAX);
	ag_store_addresses_release(&l);
	assert_int_equal(ag_store_address_list(f->s, "nobody", &l, &err),
			 AG_OK);
	assert_int_equal(l.n, 0);
	ag_store_addresses_release(&l);

	/* At most AG_RECOVERY_NOTIFY_MAX. */
	for (int i = 0; i < AG_RECOVERY_NOTIFY_MAX; i++) {
		char a[32];
		snprintf(a, sizeof(a), "g%d@example.org", i);
		address(f, "gina", AG_CHANNEL_EMAIL, a);
	}
	assert_int_equal(ag_store_address_set(f->s, "gina", AG_CHANNEL_SMS,
					      "+15550199", true, NOW, &changed,
					      &err),
			 AG_ERR_LIMIT);
	assert_false(changed);
	assert_int_equal(ag_store_address_list(f->s, "gina", &l, &err),
			 AG_OK);
	assert_int_equal(l.n, AG_RECOVERY_NOTIFY_MAX);
	ag_store_addresses_release(&l);
}

/* An AAL3 account recovered by e-mail: refused, whatever level the
 * request claims. */
static void test_level_not_lowered(void **state)
{
	struct fix *f = *state;
	struct ag_recovery_result res;
	struct ag_recovery_state st;
	struct ag_error err;
	char json[600];

	snprintf(json, sizeof(json),
		 "{\"account\": \"root\", \"level\": 1, \"enrolled\": "
		 "[\"password\"], \"ial\": 2, " NOTIFY ", \"evidence\": "
		 "[{\"kind\": \"issued_code\", \"channel\": \"email\", "
		 "\"issued_at\": %lld}]}",
		 (long long)(NOW - MIN));
	assert_int_equal(run(f, json, NOW, &res, &st, &err), AG_OK);
	assert_false(res.accepted);
	assert_int_equal(res.account_aal, 3);
	assert_int_equal(res.held_to, 3);
	assert_int_equal(st.store_level.aal, 3);
	assert_int_equal(st.request_aal, 1);
	assert_true(st.request_ignored);
	assert_true(refused_for(&res, AG_RR_AAL2_INSUFFICIENT));
	bool warned = false;
	for (size_t i = 0; i < res.n_notes; i++)
		warned |= !res.notes[i].refusal &&
			  res.notes[i].reason == AG_RW_LEVEL_MISMATCH &&
			  strstr(res.notes[i].text, "never lower it");
	assert_true(warned);
	/* Authenticator evidence counts only when the store holds it:
	 * the request's "enrolled" password is not bound to root. */
	snprintf(json, sizeof(json),
		 "{\"account\": \"root\", \"enrolled\": [\"password\"], "
		 "\"ial\": 2, " NOTIFY ", \"evidence\": [{\"kind\": "
		 "\"saved_code\", \"code_id\": \"r1\"}, {\"kind\": "
		 "\"authenticator\", \"method\": \"password\"}]}");
	assert_int_equal(run(f, json, NOW, &res, &st, &err), AG_OK);
	assert_false(res.accepted);
	assert_int_equal(res.status[1], AG_RR_NOT_ENROLLED);

	/* A request may raise it: dave (AAL1) claimed at AAL2 is held to
	 * the AAL2 rule, and one code is not enough. */
	snprintf(json, sizeof(json),
		 "{\"account\": \"dave\", \"level\": 2, " NOTIFY ", "
		 "\"evidence\": [{\"kind\": \"saved_code\", \"code_id\": "
		 "\"d1\"}]}");
	assert_int_equal(run(f, json, NOW, &res, &st, &err), AG_OK);
	assert_false(res.accepted);
	assert_int_equal(res.held_to, 2);
	assert_false(st.request_ignored);

	/* An account the store does not know is refused. */
	snprintf(json, sizeof(json),
		 "{\"account\": \"mallory\", \"level\": 1, " NOTIFY ", "
		 "\"evidence\": [{\"kind\": \"saved_code\", \"code_id\": "
		 "\"m1\"}]}");
	assert_int_equal(run(f, json, NOW, &res, &st, &err),
			 AG_ERR_NOT_FOUND);
	assert_false(res.accepted);
	assert_string_equal(err.msg,
			    "r.json: 'mallory' has no enrolled authenticators "
			    "in the state store; its own level is not known, "
			    "so it cannot be recovered");
}

/* SP 800-63B-4 §4.2.2.2 and §4.2.1.2 against the store's account. */
static void test_table_with_store(void **state)
{
	struct fix *f = *state;
	struct ag_recovery_result res;
	struct ag_recovery_state st;
	struct ag_error err;
	char json[700];

	/* Two SMS codes are one method. */
	snprintf(json, sizeof(json),
		 "{\"account\": \"alice\", " NOTIFY ", \"evidence\": ["
		 "{\"kind\": \"issued_code\", \"channel\": \"sms\", "
		 "\"issued_at\": %lld}, {\"kind\": \"issued_code\", "
		 "\"channel\": \"sms\", \"issued_at\": %lld}]}",
		 (long long)(NOW - 5 * MIN), (long long)(NOW - 2 * MIN));
	assert_int_equal(run(f, json, NOW, &res, &st, &err), AG_OK);
	assert_false(res.accepted);
	assert_true(refused_for(&res, AG_RR_SAME_METHOD));
	/* An e-mail code 25 hours old. */
	snprintf(json, sizeof(json),
		 "{\"account\": \"dave\", " NOTIFY ", \"evidence\": ["
		 "{\"kind\": \"issued_code\", \"channel\": \"email\", "
		 "\"issued_at\": %lld}]}",
		 (long long)(NOW - 25 * HOUR));
	assert_int_equal(run(f, json, NOW, &res, &st, &err), AG_OK);
	assert_false(res.accepted);
	assert_int_equal(res.status[0], AG_RR_CODE_EXPIRED);
	/* KBA. */
	snprintf(json, sizeof(json),
		 "{\"account\": \"dave\", " NOTIFY ", \"evidence\": ["
		 "{\"kind\": \"saved_code\", \"code_id\": \"k1\"}, "
		 "{\"kind\": \"kba\"}]}");
	assert_int_equal(run(f, json, NOW, &res, &st, &err), AG_OK);
	assert_false(res.accepted);
	assert_int_equal(res.status[1], AG_RR_KBA);
	/* Refusals spend nothing. */
	bool spent = true;
	assert_int_equal(ag_store_code_spent(f->s, "dave", "k1", &spent,
					     &err),
			 AG_OK);
	assert_false(spent);

	json_t *recs = journal(f);
	assert_int_equal(count_of(recs, "recovery_refused"), 3);
	assert_int_equal(count_of(recs, "recovery"), 0);
	json_t *r = last_of(recs, "recovery_refused");
	assert_string_equal(s_of(r, "account"), "dave");
	assert_null(json_object_get(r, "obligation"));
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(r, "refusals"), 0)),
			    "kba");
	json_decref(recs);
}

/* A saved code is used once: the second recovery with it is refused,
 * and the first journals the notification obligation. */
static void test_code_spent_once(void **state)
{
	struct fix *f = *state;
	struct ag_recovery_result res;
	struct ag_recovery_state st;
	struct ag_error err;
	const char *json =
		"{\"account\": \"alice\", " NOTIFY ", \"evidence\": ["
		"{\"kind\": \"saved_code\", \"code_id\": \"s1\"}, "
		"{\"kind\": \"authenticator\", \"method\": \"password\"}]}";

	assert_int_equal(run(f, json, NOW, &res, &st, &err), AG_OK);
	assert_true(res.accepted);
	assert_int_equal(res.basis, AG_BASIS_CODE_AUTHENTICATOR);
	assert_int_equal(st.spent, 1u);
	assert_true(st.journal_seq > 0);
	bool spent = false;
	assert_int_equal(ag_store_code_spent(f->s, "alice", "s1", &spent,
					     &err),
			 AG_OK);
	assert_true(spent);

	assert_int_equal(run(f, json, NOW + 1, &res, &st, &err), AG_OK);
	assert_false(res.accepted);
	assert_int_equal(res.status[0], AG_RR_CODE_REUSED);
	assert_int_equal(st.spent, 0u);

	json_t *recs = journal(f);
	json_t *r = last_of(recs, "recovery");
	assert_non_null(r);
	assert_string_equal(s_of(r, "account"), "alice");
	assert_string_equal(s_of(r, "obligation"), "notify");
	assert_string_equal(s_of(r, "basis"), "code_and_authenticator");
	json_t *to = json_object_get(r, "notify");
	assert_int_equal(json_array_size(to), 2);
	assert_string_equal(s_of(json_array_get(to, 0), "address"),
			    "a@example.org");
	assert_string_equal(s_of(json_array_get(to, 1), "channel"), "sms");
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(r, "codes_spent"), 0)),
			    "s1");
	assert_int_equal(count_of(recs, "recovery_code_spent"), 1);
	assert_int_equal(count_of(recs, "recovery_refused"), 1);
	json_decref(recs);

	/* The answer says what the store did. */
	struct ag_recovery_request rq;
	parse_stored(json, &rq);
	char *txt = ag_recovery_answer(&rq, &res, &st, NOW);
	assert_non_null(txt);
	json_t *ans = json_loads(txt, 0, NULL);
	assert_non_null(ans);
	assert_true(json_is_false(json_object_get(ans, "accepted")));
	json_t *sj = json_object_get(ans, "state");
	assert_int_equal(json_integer_value(json_object_get(sj, "store_aal")),
			 2);
	json_decref(ans);
	free(txt);
	ag_recovery_request_release(&rq);
}

struct racer {
	struct fix *f;
	const char *json;
	bool accepted;
	ag_code rc;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct ag_recovery_result *res = malloc(sizeof(*res));
	struct ag_recovery_state st;
	struct ag_error err;
	assert_non_null(res);
	r->rc = run(r->f, r->json, NOW, res, &st, &err);
	r->accepted = res->accepted;
	free(res);
	return NULL;
}

/* Eight recoveries at once with one saved code: exactly one passes. */
static void test_code_race(void **state)
{
	struct fix *f = *state;
	struct racer r[8];
	pthread_t t[8];
	const char *json =
		"{\"account\": \"dave\", " NOTIFY ", \"evidence\": ["
		"{\"kind\": \"saved_code\", \"code_id\": \"race\"}]}";

	for (int i = 0; i < 8; i++) {
		r[i] = (struct racer){.f = f, .json = json};
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	int accepted = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		if (r[i].rc == AG_OK && r[i].accepted)
			accepted++;
	}
	assert_int_equal(accepted, 1);
	json_t *recs = journal(f);
	assert_int_equal(count_of(recs, "recovery"), 1);
	assert_int_equal(count_of(recs, "recovery_code_spent"), 1);
	json_decref(recs);
}

/* ---- the help desk ----------------------------------------------------- */

static ag_code reset(struct fix *f, const struct ag_policy *p,
		     const char *json, const char *claims,
		     struct ag_recovery_result *res,
		     struct ag_helpdesk_result *out, struct ag_error *err)
{
	struct ag_recovery_request rec;
	struct ag_helpdesk_request hd;
	struct ag_claims c;
	ag_error_init(err);
	if (ag_helpdesk_request_parse(p, "hd.json", json, strlen(json), true,
				      &rec, &hd, err) != AG_OK)
		fail_msg("parse: %s", err->msg);
	claims_of(claims, &c);
	ag_code rc = ag_helpdesk_reset(f->s, p, &rec, &hd, "hd.json", &c, NOW,
				       res, out, err);
	char *txt = ag_helpdesk_answer(&rec, &hd, &c, res, out, NOW);
	assert_non_null(txt);
	json_t *ans = json_loads(txt, 0, NULL);
	if (!ans)
		fail_msg("answer is not JSON: %s", txt);
	assert_int_equal(json_is_true(json_object_get(ans, "accepted")),
			 rc == AG_OK && out->accepted);
	json_decref(ans);
	free(txt);
	ag_claims_release(&c);
	ag_helpdesk_request_release(&hd);
	ag_recovery_request_release(&rec);
	return rc;
}

#define AGENT(sub, amr)                                                 \
	"{\"iss\": \"https://idp.test\", \"sub\": \"" sub "\", "          \
	"\"amr\": " amr "}"

/* A help-desk reset notifies the addresses of record too, not the ones
 * the agent's tool names, and a reset of an account with none is
 * refused. */
static void test_agent_addresses(void **state)
{
	struct fix *f = *state;
	struct ag_recovery_result res;
	struct ag_helpdesk_result out;
	struct ag_error err;
	char json[700];

	snprintf(json, sizeof(json),
		 "{\"account\": \"alice\", \"ticket\": \"INC-8\", "
		 "\"notify\": [{\"channel\": \"sms\", \"address\": "
		 "\"+15559999\"}], \"evidence\": [{\"kind\": "
		 "\"issued_code\", \"channel\": \"email\", \"issued_at\": "
		 "%lld, \"code_id\": \"e8\"}, {\"kind\": \"authenticator\", "
		 "\"method\": \"password\"}]}",
		 (long long)(NOW - HOUR));
	assert_int_equal(reset(f, f->p, json,
			       AGENT("bob", "[\"pwd\", \"otp\"]"), &res, &out,
			       &err),
			 AG_OK);
	assert_true(out.accepted);
	assert_int_equal(out.state.request_addresses_ignored, 1);
	assert_int_equal(res.n_notify, 2);
	assert_string_equal(res.notify[0].address, "a@example.org");
	assert_string_equal(res.notify[1].address, "+15550100");
	json_t *recs = journal(f);
	json_t *r = last_of(recs, "helpdesk_reset");
	assert_non_null(r);
	assert_string_equal(s_of(r, "ticket"), "INC-8");
	json_t *to = json_object_get(r, "notify");
	assert_int_equal(json_array_size(to), 2);
	assert_string_equal(s_of(json_array_get(to, 0), "address"),
			    "a@example.org");
	assert_string_equal(s_of(json_array_get(to, 1), "address"),
			    "+15550100");
	json_decref(recs);

	/* erin: no address of record. */
	add(f, "erin", "password", -1);
	snprintf(json, sizeof(json),
		 "{\"account\": \"erin\", \"ticket\": \"INC-9\", " NOTIFY
		 ", \"evidence\": [{\"kind\": \"saved_code\", \"code_id\": "
		 "\"e9\"}]}");
	assert_int_equal(reset(f, f->p, json,
			       AGENT("bob", "[\"pwd\", \"otp\"]"), &res, &out,
			       &err),
			 AG_OK);
	assert_false(out.accepted);
	assert_false(res.accepted);
	assert_true(refused_for(&res, AG_RR_NO_NOTIFY_ADDRESS));
	assert_int_equal(out.state.spent, 0u);
}

/* §4.2.1.2: an issued code the request says went to an address that is
 * not on record refuses the recovery; one sent to an address of record
 * (a phone takes SMS and voice) passes. */
static void test_code_sent_to_record(void **state)
{
	struct fix *f = *state;
	struct ag_recovery_result res;
	struct ag_recovery_state st;
	struct ag_error err;
	char json[700];
	static const struct {
		const char *id, *channel, *to;
		bool ok;
	} cases[] = {
		{"t1", "email", "evil@example.net", false},
		{"t2", "sms", "a@example.org", false}, /* the right kind only */
		{"t3", "email", "a@example.org", true},
		{"t4", "voice", "+15550100", true},
		{"t5", "sms", "+15550100", true},
		{"t6", "email", "A@Example.ORG", true},
		{"t7", "voice", "+1 555-0100", true},
		{"t8", "voice", "+1 555-0101", false},
		{"t9", "email", "+15550100", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(json, sizeof(json),
			 "{\"account\": \"alice\", \"evidence\": [{\"kind\": "
			 "\"issued_code\", \"channel\": \"%s\", \"issued_at\": "
			 "%lld, \"code_id\": \"%s\", \"sent_to\": \"%s\"}, "
			 "{\"kind\": \"authenticator\", \"method\": "
			 "\"password\"}]}",
			 cases[i].channel, (long long)(NOW - MIN), cases[i].id,
			 cases[i].to);
		assert_int_equal(run(f, json, NOW, &res, &st, &err), AG_OK);
		if (cases[i].ok) {
			assert_true(res.accepted);
			assert_int_equal(res.status[0], AG_RR_OK);
			assert_int_equal(st.spent, 1u);
			continue;
		}
		assert_false(res.accepted);
		assert_int_equal(res.basis, AG_BASIS_NONE);
		assert_int_equal(res.n_notify, 0);
		assert_int_equal(res.status[0], AG_RR_NOT_OF_RECORD);
		assert_true(refused_for(&res, AG_RR_NOT_OF_RECORD));
		assert_int_equal(st.spent, 0u);
		if (i > 0)
			continue;
		bool said = false;
		for (size_t k = 0; k < res.n_notes; k++)
			said |= res.notes[k].reason == AG_RR_NOT_OF_RECORD &&
				res.notes[k].evidence == 0 &&
				!strcmp(res.notes[k].text,
					"the email code was sent to "
					"'evil@example.net', which is not an "
					"address of record of the account; an "
					"issued recovery code goes to a "
					"validated address of record "
					"(SP 800-63B-4 §4.2.1.2)");
		assert_true(said);
	}
	assert_string_equal(ag_recovery_reason_name(AG_RR_NOT_OF_RECORD),
			    "code_not_sent_to_address_of_record");
	/* The refusal is journaled with its reason. */
	json_t *recs = journal(f);
	size_t refused = 0;
	for (size_t i = 0; i < json_array_size(recs); i++) {
		json_t *r = json_array_get(recs, i);
		json_t *why = json_object_get(r, "refusals");
		if (strcmp(s_of(r, "type"), "recovery_refused"))
			continue;
		refused++;
		assert_string_equal(json_string_value(json_array_get(why, 0)),
				    "code_not_sent_to_address_of_record");
	}
	assert_int_equal(refused, 4);
	json_decref(recs);

	/* A postal code is held to its own channel's validity: mailed to a
	 * contiguous-US address of record, it cannot claim the 30 days of
	 * one outside. */
	address(f, "dave", AG_CHANNEL_POSTAL, "1 Main St");
	static const struct {
		const char *id, *channel;
		int days;
		bool ok;
	} post[] = {
		{"p1", "postal_outside_contiguous_us", 25, false},
		{"p2", "postal", 20, true},
	};
	for (size_t i = 0; i < 2; i++) {
		snprintf(json, sizeof(json),
			 "{\"account\": \"dave\", \"evidence\": [{\"kind\": "
			 "\"issued_code\", \"channel\": \"%s\", \"issued_at\": "
			 "%lld, \"code_id\": \"%s\", \"sent_to\": "
			 "\"1 Main St\"}]}",
			 post[i].channel, (long long)(NOW - post[i].days * 86400),
			 post[i].id);
		assert_int_equal(run(f, json, NOW, &res, &st, &err), AG_OK);
		assert_int_equal(res.accepted, post[i].ok);
		assert_int_equal(res.status[0],
				 post[i].ok ? AG_RR_OK : AG_RR_NOT_OF_RECORD);
	}

	/* Expired and sent elsewhere: the status keeps the first reason,
	 * the refusals name both. */
	snprintf(json, sizeof(json),
		 "{\"account\": \"dave\", \"evidence\": [{\"kind\": "
		 "\"issued_code\", \"channel\": \"email\", \"issued_at\": "
		 "%lld, \"code_id\": \"x1\", \"sent_to\": \"evil@x.net\"}]}",
		 (long long)(NOW - 25 * HOUR));
	assert_int_equal(run(f, json, NOW, &res, &st, &err), AG_OK);
	assert_false(res.accepted);
	assert_int_equal(res.status[0], AG_RR_CODE_EXPIRED);
	assert_true(refused_for(&res, AG_RR_CODE_EXPIRED));
	assert_true(refused_for(&res, AG_RR_NOT_OF_RECORD));

	/* No sent_to: accepted, with the warning. */
	snprintf(json, sizeof(json),
		 "{\"account\": \"dave\", \"evidence\": [{\"kind\": "
		 "\"issued_code\", \"channel\": \"sms\", \"issued_at\": "
		 "%lld, \"code_id\": \"x2\"}]}",
		 (long long)(NOW - MIN));
	assert_int_equal(run(f, json, NOW, &res, &st, &err), AG_OK);
	assert_true(res.accepted);
	bool warned = false;
	for (size_t k = 0; k < res.n_notes; k++)
		warned |= !res.notes[k].refusal &&
			  res.notes[k].reason == AG_RW_CODE_DESTINATION &&
			  !strcmp(res.notes[k].text,
				  "1 issued code does not say where it was "
				  "sent (\"sent_to\"), so it is not checked "
				  "against the addresses of record "
				  "(SP 800-63B-4 §4.2.1.2)");
	assert_true(warned);

	/* The policy may ask for sent_to: then its absence refuses. */
	struct ag_policy *strict = policy_ok("workflows:\n"
					     "  staff: { aal: 2 }\n"
					     "recovery: { require_sent_to: "
					     "true }\n");
	assert_true(strict->recovery.require_sent_to);
	assert_false(f->p->recovery.require_sent_to);
	struct ag_recovery_request rq;
	snprintf(json, sizeof(json),
		 "{\"account\": \"dave\", \"evidence\": [{\"kind\": "
		 "\"issued_code\", \"channel\": \"sms\", \"issued_at\": "
		 "%lld, \"code_id\": \"x3\"}]}",
		 (long long)(NOW - MIN));
	parse_stored(json, &rq);
	ag_error_init(&err);
	assert_int_equal(ag_recovery_run(f->s, strict, &rq, "r.json",
					 AG_RECOVERY_VIA_CLI, NOW, &res, &st,
					 &err),
			 AG_OK);
	assert_false(res.accepted);
	assert_int_equal(res.status[0], AG_RR_NOT_OF_RECORD);
	assert_int_equal(st.spent, 0u);
	bool said = false;
	for (size_t k = 0; k < res.n_notes; k++)
		said |= res.notes[k].refusal &&
			!strcmp(res.notes[k].text,
				"the sms code does not say where it was sent "
				"(\"sent_to\"), and the policy's "
				"recovery.require_sent_to asks for it: an "
				"issued recovery code goes to a validated "
				"address of record (SP 800-63B-4 §4.2.1.2)");
	assert_true(said);
	ag_recovery_request_release(&rq);
	ag_policy_free(strict);
}

/* A file of addresses: rows sorted by account, each checked, errors at
 * file:line:column with a near miss, and nothing returned on error. */
static void test_address_file(void **state)
{
	(void)state;
	struct ag_address_file af;
	struct ag_error err;
	static const char good[] =
		"\xef\xbb\xbf" "channel,address,account\r\n"
		"email,b@example.org,bob\r\n"
		"\r\n"
		"sms,\"+1 555 0100\",alice\r\n"
		"postal,\"1 Main St, Springfield\",alice\r\n"
		"sms,\"+1 555 0100\",alice\r\n";

	ag_error_init(&err);
	assert_int_equal(ag_address_file_parse("a.csv", good, strlen(good), &af,
					       &err),
			 AG_OK);
	assert_int_equal(af.n, 4);
	assert_string_equal(af.v[0].account, "alice");
	assert_int_equal(af.v[0].a.channel, AG_CHANNEL_SMS);
	assert_string_equal(af.v[0].a.address, "+1 555 0100");
	assert_int_equal(af.v[0].line, 4);
	assert_int_equal(af.v[0].col, 19);
	assert_int_equal(af.v[1].a.channel, AG_CHANNEL_POSTAL);
	assert_string_equal(af.v[1].a.address, "1 Main St, Springfield");
	assert_int_equal(af.v[2].line, 6);
	assert_string_equal(af.v[3].account, "bob");
	ag_address_file_release(&af);
	assert_null(af.v);

	static const struct {
		const char *in, *msg;
	} bad[] = {
		{"", "a.csv: empty: expected a header naming account, channel "
		     "and address"},
		{"account,chanel,address\n",
		 "a.csv:1:9: unknown column 'chanel' (account, channel, "
		 "address); did you mean 'channel'?"},
		{"account,channel,address,account\n",
		 "a.csv:1:25: column 'account' named twice"},
		{"account,\"\x1b]0;x\x07\",address\n",
		 "a.csv:1:9: unknown column '?]0;x?' (account, channel, "
		 "address)"},
		{"account,address\n",
		 "a.csv:1:1: the header lacks the column 'channel' (it names "
		 "account, channel and address)"},
		{"account,channel,address\nalice,sms\n",
		 "a.csv:2:1: 2 fields, expected 3 (account, channel, address)"},
		{"account,channel,address\nalice,phone,+15550100\n",
		 "a.csv:2:7: unknown channel 'phone' (email, sms, voice, postal "
		 "or postal_outside_contiguous_us)"},
		{"account,channel,address\nalice,e-mail,a@b\n",
		 "a.csv:2:7: unknown channel 'e-mail' (email, sms, voice, "
		 "postal or postal_outside_contiguous_us); did you mean "
		 "'email'?"},
		{"account,channel,address\n,email,a@b\n",
		 "a.csv:2:1: the account is empty"},
		{"account,channel,address\nalice,email,\"a\x1b[2J\"\n",
		 "a.csv:2:13: the address holds a control character"},
		{"account,channel,address\nalice,postal,\"1 Main St\nX\"\n",
		 "a.csv:2:14: the address holds a control character"},
		{"account,channel,address\nalice,email,\"a@b\n",
		 NULL /* the CSV reader's own message */},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ag_error_init(&err);
		assert_int_not_equal(ag_address_file_parse("a.csv", bad[i].in,
							   strlen(bad[i].in),
							   &af, &err),
				     AG_OK);
		assert_null(af.v);
		assert_int_equal(af.n, 0);
		if (bad[i].msg)
			assert_string_equal(err.msg, bad[i].msg);
		else
			assert_non_null(strstr(err.msg, "a.csv:2:"));
	}

	/* Seventeen distinct addresses for one account: the row past the
	 * most is named. */
	char many[2048];
	size_t off = (size_t)snprintf(many, sizeof(many),
				      "account,channel,address\n");
	for (int i = 0; i <= AG_RECOVERY_NOTIFY_MAX; i++)
		off += (size_t)snprintf(many + off, sizeof(many) - off,
					"gina,email,g%d@example.org\n", i);
	ag_error_init(&err);
	assert_int_equal(ag_address_file_parse("a.csv", many, off, &af, &err),
			 AG_ERR_LIMIT);
	assert_string_equal(err.msg, "a.csv:18:1: 'gina' has more than 16 "
				     "addresses");
	/* The same address many times is one. */
	off = (size_t)snprintf(many, sizeof(many), "account,channel,address\n");
	for (int i = 0; i < 40; i++)
		off += (size_t)snprintf(many + off, sizeof(many) - off,
					"gina,email,g@example.org\n");
	assert_int_equal(ag_address_file_parse("a.csv", many, off, &af, &err),
			 AG_OK);
	assert_int_equal(af.n, 40);
	ag_address_file_release(&af);
}

/* A batch: one transaction per account, and only the addresses held
 * before it are told. */
static void test_address_add_many(void **state)
{
	struct fix *f = *state;
	struct ag_error err;
	size_t added = 99;
	const struct ag_recovery_address two[] = {
		{AG_CHANNEL_EMAIL, "h@example.org"},
		{AG_CHANNEL_SMS, "+15550142"},
		{AG_CHANNEL_EMAIL, "h@example.org"},
	};

	ag_error_init(&err);
	assert_int_equal(ag_store_address_add_many(f->s, "hana", two, 3, NOW,
						   &added, &err),
			 AG_OK);
	assert_int_equal(added, 2);
	json_t *recs = journal(f);
	size_t rows = 0;
	for (size_t i = 0; i < json_array_size(recs); i++) {
		json_t *r = json_array_get(recs, i);
		if (strcmp(s_of(r, "type"), "address_add") ||
		    strcmp(s_of(r, "account"), "hana"))
			continue;
		rows++;
		assert_null(json_object_get(r, "obligation"));
	}
	assert_int_equal(rows, 2);
	json_decref(recs);
	/* Again: nothing new. */
	assert_int_equal(ag_store_address_add_many(f->s, "hana", two, 3, NOW,
						   &added, &err),
			 AG_OK);
	assert_int_equal(added, 0);
	/* alice holds two: a third is told to them. */
	const struct ag_recovery_address one[] = {
		{AG_CHANNEL_VOICE, "+15550177"},
	};
	assert_int_equal(ag_store_address_add_many(f->s, "alice", one, 1, NOW,
						   &added, &err),
			 AG_OK);
	assert_int_equal(added, 1);
	recs = journal(f);
	json_t *r = last_of(recs, "address_add");
	assert_string_equal(s_of(r, "address"), "+15550177");
	assert_string_equal(s_of(r, "obligation"), "notify");
	assert_int_equal(json_array_size(json_object_get(r, "notify")), 2);
	json_decref(recs);
	/* Past the most: nothing of the batch is added. */
	struct ag_recovery_address lots[AG_RECOVERY_NOTIFY_MAX];
	char text[AG_RECOVERY_NOTIFY_MAX][32];
	for (int i = 0; i < AG_RECOVERY_NOTIFY_MAX; i++) {
		snprintf(text[i], sizeof(text[i]), "a%d@example.org", i);
		lots[i].channel = AG_CHANNEL_EMAIL;
		lots[i].address = text[i];
	}
	assert_int_equal(ag_store_address_add_many(f->s, "alice", lots,
						   AG_RECOVERY_NOTIFY_MAX, NOW,
						   &added, &err),
			 AG_ERR_LIMIT);
	assert_int_equal(added, 0);
	struct ag_store_addresses l;
	assert_int_equal(ag_store_address_list(f->s, "alice", &l, &err),
			 AG_OK);
	assert_int_equal(l.n, 3);
	ag_store_addresses_release(&l);
}

/* With a store the result names addresses kept in the state: a call
 * without one is refused, not answered with pointers into nothing. */
static void test_run_needs_state(void **state)
{
	struct fix *f = *state;
	struct ag_recovery_request r;
	struct ag_recovery_result res;
	struct ag_error err;

	parse_stored("{\"account\": \"dave\", \"evidence\": [{\"kind\": "
		     "\"saved_code\", \"code_id\": \"n1\"}]}",
		     &r);
	ag_error_init(&err);
	res.accepted = true;
	assert_int_equal(ag_recovery_run(f->s, f->p, &r, "r.json",
					 AG_RECOVERY_VIA_CLI, NOW, &res, NULL,
					 &err),
			 AG_ERR_USAGE);
	assert_false(res.accepted);
	assert_int_equal(res.n_notify, 0);
	assert_string_equal(err.msg,
			    "a recovery against the store needs its state");
	ag_recovery_request_release(&r);
}

static void test_agent(void **state)
{
	struct fix *f = *state;
	struct ag_recovery_result res;
	struct ag_helpdesk_result out;
	struct ag_error err;
	char json[700];

	snprintf(json, sizeof(json),
		 "{\"account\": \"alice\", \"ticket\": \"INC-7\", " NOTIFY
		 ", \"evidence\": [{\"kind\": \"issued_code\", \"channel\": "
		 "\"email\", \"issued_at\": %lld, \"code_id\": \"e1\"}, "
		 "{\"kind\": \"authenticator\", \"method\": \"password\"}],"
		 " \"verified\": [\"called back the number on file\"]}",
		 (long long)(NOW - HOUR));

	/* An agent at AAL1 (a password): refused, nothing spent. */
	assert_int_equal(reset(f, f->p, json, AGENT("bob", "[\"pwd\"]"), &res,
			       &out, &err),
			 AG_OK);
	assert_false(out.accepted);
	assert_false(res.accepted);
	assert_int_equal(out.agent_refusal, AG_HD_AGENT_AAL);
	assert_int_equal(out.agent.aal, 1);
	assert_non_null(strstr(out.agent_why, "AAL2 or above"));
	assert_int_equal(out.state.spent, 0u);
	/* An agent resetting their own account. */
	assert_int_equal(reset(f, f->p, json,
			       AGENT("alice", "[\"pwd\", \"otp\"]"), &res, &out,
			       &err),
			 AG_OK);
	assert_false(out.accepted);
	assert_int_equal(out.agent_refusal, AG_HD_SELF);
	/* No subject: nobody to record. */
	assert_int_equal(reset(f, f->p, json,
			       "{\"iss\": \"https://idp.test\", \"amr\": "
			       "[\"pwd\", \"otp\"]}",
			       &res, &out, &err),
			 AG_OK);
	assert_int_equal(out.agent_refusal, AG_HD_NO_AGENT);
	/* At AAL2, with evidence that meets the account's level. */
	assert_int_equal(reset(f, f->p, json,
			       AGENT("bob", "[\"pwd\", \"otp\"]"), &res, &out,
			       &err),
			 AG_OK);
	assert_true(out.accepted);
	assert_true(res.accepted);
	assert_int_equal(out.agent_refusal, AG_HD_OK);
	assert_int_equal(out.agent.aal, 2);
	assert_int_equal(out.state.spent, 1u);

	json_t *recs = journal(f);
	assert_int_equal(count_of(recs, "helpdesk_reset_refused"), 3);
	json_t *r = last_of(recs, "helpdesk_reset");
	assert_non_null(r);
	assert_string_equal(s_of(r, "account"), "alice");
	assert_string_equal(s_of(r, "ticket"), "INC-7");
	assert_string_equal(s_of(r, "obligation"), "notify");
	json_t *ag = json_object_get(r, "agent");
	assert_string_equal(s_of(ag, "sub"), "bob");
	assert_string_equal(s_of(ag, "iss"), "https://idp.test");
	assert_int_equal(json_integer_value(json_object_get(ag, "aal")), 2);
	json_t *ev = json_object_get(r, "evidence");
	assert_string_equal(json_string_value(json_array_get(ev, 0)),
			    "issued_code");
	assert_string_equal(json_string_value(json_array_get(ev, 1)),
			    "authenticator");
	assert_int_equal(json_array_size(json_object_get(r, "notify")), 2);
	assert_true(json_is_true(json_object_get(r, "rebind")));
	/* The refused ones name the agent and why. */
	r = last_of(recs, "helpdesk_reset_refused");
	assert_string_equal(s_of(json_object_get(r, "agent"), "refusal"),
			    "agent_unidentified");
	json_decref(recs);
}

static void test_agent_kba(void **state)
{
	struct fix *f = *state;
	struct ag_recovery_result res;
	struct ag_helpdesk_result out;
	struct ag_error err;
	const char *agent = AGENT("bob", "[\"pwd\", \"otp\"]");

	/* Enough evidence, and a KBA step beside it: refused. */
	const char *steps =
		"{\"account\": \"dave\", " NOTIFY ", \"evidence\": ["
		"{\"kind\": \"saved_code\", \"code_id\": \"ds1\"}],"
		" \"verified\": [\"caller gave date of birth\"]}";
	assert_int_equal(reset(f, f->p, steps, agent, &res, &out, &err),
			 AG_OK);
	assert_false(out.accepted);
	assert_true(out.kba);
	bool said = false;
	for (size_t i = 0; i < res.n_notes; i++)
		said |= res.notes[i].refusal &&
			res.notes[i].reason == AG_RR_KBA &&
			strstr(res.notes[i].text, "date_of_birth") &&
			strstr(res.notes[i].text, "SP 800-63A-4 §2.5.1");
	assert_true(said);
	bool spent = true;
	assert_int_equal(ag_store_code_spent(f->s, "dave", "ds1", &spent,
					     &err),
			 AG_OK);
	assert_false(spent);
	/* KBA as an evidence kind. */
	const char *kind =
		"{\"account\": \"dave\", " NOTIFY ", \"evidence\": ["
		"{\"kind\": \"ssn_last4\", \"value\": \"answer-zqx\"}]}";
	assert_int_equal(reset(f, f->p, kind, agent, &res, &out, &err),
			 AG_OK);
	assert_false(out.accepted);
	assert_int_equal(res.status[0], AG_RR_KBA);
	assert_non_null(strstr(res.notes[0].text, "'ssn_last4'"));

	json_t *recs = journal(f);
	json_t *r = last_of(recs, "helpdesk_reset_refused");
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(r, "kba"), 0)),
			    "government_id");
	/* The caller's answer never reaches the log. */
	char *dump = json_dumps(recs, 0);
	assert_null(strstr(dump, "answer-zqx"));
	free(dump);
	json_decref(recs);
}

/* A policy's helpdesk workflow holds the agent to more than AAL2. */
static void test_agent_workflow(void **state)
{
	struct fix *f = *state;
	struct ag_recovery_result res;
	struct ag_helpdesk_result out;
	struct ag_error err;
	struct ag_policy *p = policy_ok(
		"workflows:\n"
		"  helpdesk: { aal: 2, phishing_resistant: true }\n");
	const char *json =
		"{\"account\": \"dave\", " NOTIFY ", \"evidence\": ["
		"{\"kind\": \"saved_code\", \"code_id\": \"w1\"}]}";

	assert_int_equal(reset(f, p, json, AGENT("bob", "[\"pwd\", \"otp\"]"),
			       &res, &out, &err),
			 AG_OK);
	assert_false(out.accepted);
	assert_int_equal(out.agent_refusal, AG_HD_AGENT_WORKFLOW);
	assert_non_null(strstr(out.agent_why, "phishing-resistant"));
	/* A passkey is phishing-resistant: accepted. */
	assert_int_equal(reset(f, p, json,
			       "{\"iss\": \"https://idp.test\", \"sub\": "
			       "\"bob\", \"amr\": [\"hwk\", \"pin\"], "
			       "\"auth_time\": 1799999990}",
			       &res, &out, &err),
			 AG_OK);
	assert_true(out.accepted);
	ag_policy_free(p);
}

/* Lost authenticators are removed on acceptance, and only then. */
static void test_lost(void **state)
{
	struct fix *f = *state;
	struct ag_recovery_result res;
	struct ag_helpdesk_result out;
	struct ag_error err;
	struct ag_enrolments l = {0};
	const char *agent = AGENT("bob", "[\"pwd\", \"otp\"]");

	/* Refused (one code for an AAL2 account): totp stays. */
	const char *weak =
		"{\"account\": \"alice\", " NOTIFY ", \"evidence\": ["
		"{\"kind\": \"saved_code\", \"code_id\": \"l1\"}],"
		" \"lost\": [{\"method\": \"totp\"}]}";
	assert_int_equal(reset(f, f->p, weak, agent, &res, &out, &err), AG_OK);
	assert_false(out.accepted);
	assert_int_equal(out.removed, 0u);
	const char *ok =
		"{\"account\": \"alice\", " NOTIFY ", \"evidence\": ["
		"{\"kind\": \"saved_code\", \"code_id\": \"l2\"}, "
		"{\"kind\": \"authenticator\", \"method\": \"password\"}],"
		" \"lost\": [{\"method\": \"totp\"}]}";
	assert_int_equal(reset(f, f->p, ok, agent, &res, &out, &err), AG_OK);
	assert_true(out.accepted);
	assert_int_equal(out.removed, 1u);
	assert_int_equal(ag_store_enroll_list(f->s, "alice", &l, &err), AG_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].method, "password");
	ag_enrolments_release(&l);
	/* What the account does not hold, or shows as evidence, is not
	 * lost. */
	const char *bad =
		"{\"account\": \"alice\", " NOTIFY ", \"evidence\": ["
		"{\"kind\": \"saved_code\", \"code_id\": \"l3\"}, "
		"{\"kind\": \"authenticator\", \"method\": \"password\"}],"
		" \"lost\": [{\"method\": \"password\"}]}";
	assert_int_equal(reset(f, f->p, bad, agent, &res, &out, &err),
			 AG_ERR_INVALID);
	assert_string_equal(err.msg, "hd.json: lost[0]: 'password' is shown "
				     "as evidence[1], so it is not lost");
	assert_false(out.accepted);
	json_t *recs = journal(f);
	json_t *r = last_of(recs, "helpdesk_reset");
	assert_string_equal(s_of(json_array_get(json_object_get(
						 r, "lost_removed"),
					 0),
				 "method"),
			    "totp");
	assert_int_equal(count_of(recs, "enroll_remove"), 1);
	json_decref(recs);
}

/* The real backend, but a journal that cannot take the reset's own row,
 * as a full disk would refuse it: the one failure that cannot be made on
 * purpose in a second. */
static const struct ag_store_ops *real_ops;

static ag_code full_disk_journal(struct ag_store_tx *tx, int64_t time,
				 const char *type, const char *fields,
				 uint64_t *seq, struct ag_error *err)
{
	if (!strcmp(type, "helpdesk_reset"))
		return ag_err(err, AG_ERR_IO, "database or disk is full");
	return real_ops->tx_journal(tx, time, type, fields, seq, err);
}

/* A reset's changes and its journal row are one transaction: when the
 * row (the subscriber's notice) cannot be written, no code is spent and
 * no authenticator removed. */
static void test_reset_all_or_nothing(void **state)
{
	struct fix *f = *state;
	struct ag_recovery_result res;
	struct ag_helpdesk_result out;
	struct ag_error err;
	struct ag_enrolments l = {0};
	bool spent = true;
	const char *agent = AGENT("bob", "[\"pwd\", \"otp\"]");
	const char *ok =
		"{\"account\": \"alice\", " NOTIFY ", \"evidence\": ["
		"{\"kind\": \"saved_code\", \"code_id\": \"t1\"}, "
		"{\"kind\": \"authenticator\", \"method\": \"password\"}],"
		" \"lost\": [{\"method\": \"totp\"}]}";

	/* The disk fills as the reset's own row is written, after the code
	 * was spent and totp removed in the same transaction. */
	struct ag_store_ops ops = *f->s->ops;
	real_ops = f->s->ops;
	ops.tx_journal = full_disk_journal;
	f->s->ops = &ops;
	ag_code rc = reset(f, f->p, ok, agent, &res, &out, &err);
	f->s->ops = real_ops;
	assert_int_equal(rc, AG_ERR_IO);
	assert_string_equal(err.msg, "database or disk is full");
	assert_true(out.state.store_failed);
	assert_false(out.accepted);
	assert_false(res.accepted);
	assert_int_equal(out.removed, 0u);
	assert_int_equal(ag_store_enroll_list(f->s, "alice", &l, &err), AG_OK);
	assert_int_equal(l.n, 2);
	ag_enrolments_release(&l);
	assert_int_equal(ag_store_code_spent(f->s, "alice", "t1", &spent, &err),
			 AG_OK);
	assert_false(spent);
	json_t *recs = journal(f);
	assert_int_equal(count_of(recs, "enroll_remove"), 0);
	assert_int_equal(count_of(recs, "recovery_code_spent"), 0);
	assert_int_equal(count_of(recs, "helpdesk_reset"), 0);
	json_decref(recs);

	/* Room again: the same reset goes through, all of it. */
	assert_int_equal(reset(f, f->p, ok, agent, &res, &out, &err), AG_OK);
	assert_true(out.accepted);
	assert_int_equal(out.removed, 1u);
	assert_int_equal(ag_store_code_spent(f->s, "alice", "t1", &spent, &err),
			 AG_OK);
	assert_true(spent);
	recs = journal(f);
	assert_int_equal(count_of(recs, "enroll_remove"), 1);
	assert_int_equal(count_of(recs, "recovery_code_spent"), 1);
	assert_int_equal(count_of(recs, "helpdesk_reset"), 1);
	json_decref(recs);
}

/* ---- HTTP answers that need no token ----------------------------------- */

static void http(struct fix *f, struct ag_store *s, const char *method,
		 const char *path, const char *body, bool trusted,
		 struct ag_http_answer *a)
{
	struct ag_govern_http_ctx ctx = {.policy = f->p, .store = s};
	struct ag_govern_http_request req = {
		.method = method,
		.path = path,
		.peer = trusted ? "192.0.2.10" : "127.0.0.1",
		.peer_trusted = trusted,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		.now = NOW};
	ag_govern_http(&ctx, &req, a);
}

static void has(const struct ag_http_answer *a, int status, const char *text)
{
	if (a->status != status || !a->body || !strstr(a->body, text))
		fail_msg("status %d, body %s; expected %d with '%s'",
			 a->status, a->body ? a->body : "(none)", status,
			 text);
}

static void test_http(void **state)
{
	struct fix *f = *state;
	struct ag_http_answer a;
	char body[600];

	snprintf(body, sizeof(body),
		 "{\"account\": \"dave\", " NOTIFY ", \"evidence\": ["
		 "{\"kind\": \"saved_code\", \"code_id\": \"h1\"}]}");
	http(f, f->s, "POST", "/v1/recovery", body, false, &a);
	has(&a, 403, "\"accepted\":false");
	has(&a, 403, "127.0.0.1 is not one");
	ag_http_answer_release(&a);
	bool spent = true;
	struct ag_error err;
	ag_error_init(&err);
	assert_int_equal(ag_store_code_spent(f->s, "dave", "h1", &spent, &err),
			 AG_OK);
	assert_false(spent);
	http(f, f->s, "POST", "/v1/recovery", body, true, &a);
	has(&a, 200, "\"accepted\": true");
	ag_http_answer_release(&a);
	http(f, f->s, "POST", "/v1/recovery", body, true, &a);
	has(&a, 200, "\"status\": \"code_reused\"");
	ag_http_answer_release(&a);
	http(f, f->s, "GET", "/v1/recovery", NULL, true, &a);
	has(&a, 405, "use POST");
	assert_string_equal(a.allow, "POST");
	ag_http_answer_release(&a);
	http(f, f->s, "POST", "/v1/recovery", "{\"account\":", true, &a);
	has(&a, 400, "request:1:");
	ag_http_answer_release(&a);
	http(f, f->s, "POST", "/v1/recovery",
	     "{\"account\": \"dave\", \"now\": 1, \"evidence\": []}", true,
	     &a);
	has(&a, 400, "'now' cannot be set");
	ag_http_answer_release(&a);
	http(f, f->s, "POST", "/v1/recovery",
	     "{\"account\": \"nobody\", \"evidence\": []}", true, &a);
	has(&a, 404, "has no enrolled authenticators");
	ag_http_answer_release(&a);
	/* Without a store: the check on the request's levels. */
	http(f, NULL, "POST", "/v1/recovery",
	     "{\"level\": 1, \"now\": 1800000000, " NOTIFY ", \"evidence\": "
	     "[{\"kind\": \"saved_code\", \"code_id\": \"x\"}]}",
	     true, &a);
	has(&a, 200, "\"accepted\": true");
	assert_null(strstr(a.body, "\"state\""));
	ag_http_answer_release(&a);

	/* /v1/accounts before any token. */
	http(f, f->s, "GET", "/v1/accounts/alice/enrolments", NULL, false,
	     &a);
	has(&a, 401, "a bearer token");
	assert_string_equal(a.www_authenticate, "Bearer realm=\"aalgate\"");
	ag_http_answer_release(&a);
	http(f, NULL, "GET", "/v1/accounts/alice/enrolments", NULL, false,
	     &a);
	has(&a, 503, "no state store");
	ag_http_answer_release(&a);
	static const struct {
		const char *method, *path;
		int status;
		const char *text;
	} cases[] = {
		{"PUT", "/v1/accounts/alice/enrolments", 405, "use GET, POST"},
		{"GET", "/v1/accounts/alice/enrolments/totp", 405,
		 "use DELETE"},
		{"GET", "/v1/accounts/alice/enrollments", 404,
		 "did you mean 'enrolments'?"},
		{"GET", "/v1/accounts/alice", 404, "no such endpoint"},
		{"GET", "/v1/accounts", 404, "no such endpoint"},
		{"GET", "/v1/accounts/al%zzce/enrolments", 400,
		 "percent-encoded"},
		{"GET", "/v1/accounts/al%6/enrolments", 400, "percent"},
		{"GET", "/v1/accounts/al%00ce/enrolments", 400, "control"},
		{"GET", "/v1/accounts/al%0Ace/enrolments", 400, "control"},
		{"GET", "/v1/accounts/%2e%2e/enrolments", 400, "segment 1"},
		{"GET", "/v1/accounts/al%C3ce/enrolments", 400, "UTF-8"},
		{"GET", "/v1/accounts/al ce/enrolments", 400, "segment 1"},
		{"GET", "/v1/accounts//enrolments", 400, "segment 1"},
		{"GET", "/v1/accounts/alice/enrolments/", 400,
		 "ends with '/'"},
		{"DELETE", "/v1/accounts/a/enrolments/m/l/x", 404,
		 "no such endpoint"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		http(f, f->s, cases[i].method, cases[i].path, NULL, false, &a);
		if (a.status != cases[i].status ||
		    !strstr(a.body, cases[i].text))
			fail_msg("%s %s: %d %s", cases[i].method,
				 cases[i].path, a.status, a.body);
		ag_http_answer_release(&a);
	}
	assert_true(ag_govern_http_handles("/v1/recovery"));
	assert_true(ag_govern_http_handles("/v1/accounts/x"));
	assert_false(ag_govern_http_handles("/v1/recoveryx"));
	assert_false(ag_govern_http_handles("/v1/accountsx"));
}

static void test_segment_decode(void **state)
{
	(void)state;
	char out[32];
	static const struct {
		const char *in, *out;
	} ok[] = {
		{"alice", "alice"},
		{"mail:a@example.net", "mail:a@example.net"},
		{"a%2Fb", "a/b"},
		{"%41%62", "Ab"},
		{"%C3%A9", "\xc3\xa9"},
		{"a+b", "a+b"},
		{"%25", "%"},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_true(ag_govern_segment_decode(ok[i].in, strlen(ok[i].in),
						     out, sizeof(out)));
		assert_string_equal(out, ok[i].out);
	}
	static const char *const bad[] = {
		"",    "%",     "%4",  "%g1", "a%", "%00", "%7f", "%1b",
		".",   "..",    "%2E", "a b", "a\"b", "a\\b", "a?b", "a#b",
		"\xc3\xa9", "%C3", "%ED%A0%80",
		"0123456789abcdef0123456789abcdef",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ag_govern_segment_decode(bad[i], strlen(bad[i]), out,
					     sizeof(out)))
			fail_msg("'%s' decoded to '%s'", bad[i], out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kba_names),
		cmocka_unit_test(test_segment_decode),
		cmocka_unit_test_setup_teardown(test_helpdesk_parse, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_level_not_lowered, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_addresses_of_record,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_set, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ial_not_lowered, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_table_with_store, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_code_spent_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_code_race, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_agent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agent_addresses, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_run_needs_state, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_code_sent_to_record,
						setup, teardown),
		cmocka_unit_test(test_address_file),
		cmocka_unit_test_setup_teardown(test_address_add_many, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_agent_kba, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_agent_workflow, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_all_or_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_http, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
