/*
 * The policy file (docs/policy.md, and the gate keys in
 * docs/gate.md): what loads, and the exact message, with file:line:col and a
 * near-miss hint, for what does not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

/* The example of docs/policy.md, word for word. */
static const char design_policy[] =
	"profile: sp800-63b-4\n"
	"assume: { mailbox: 1, phone: 1 }      # AAL of accounts referenced "
	"but not described\n"
	"workflows:\n"
	"  admin:    { aal: 3, phishing_resistant: true, device: managed, "
	"max_age: 12h, idle: 15m,\n"
	"              jit: { max: 1h, approvers: \"group:admins\", "
	"approvals: 1 } }\n"
	"  payroll:  { aal: 2, phishing_resistant: true }\n"
	"  staff:    { aal: 2 }\n"
	"  recovery: { aal: match_account }    # recovery must meet the "
	"account's own level\n"
	"  ci-deploy: { machine: true, max_token_lifetime: 1h, credentials: "
	"[workload_identity, mtls],\n"
	"               networks: [10.20.0.0/16] }\n"
	"break_glass: { approvals: 2, max: 4h, alert: true }\n"
	"acr:                                   # acr claim -> assurance "
	"(login.gov, OIDC EAP values)\n"
	"  \"http://idmanagement.gov/ns/assurance/aal/2\": { aal: 2 }\n"
	"  \"http://idmanagement.gov/ns/assurance/aal/2?phishing_resistant="
	"true\": { aal: 2, phishing_resistant: true }\n"
	"  \"http://idmanagement.gov/ns/assurance/aal/3\": { aal: 3, "
	"phishing_resistant: true, hardware: true }\n"
	"  phr:  { aal: 2, phishing_resistant: true }\n"
	"  phrh: { aal: 3, phishing_resistant: true, hardware: true }\n"
	"methods:                               # additions and overrides\n"
	"  helpdesk_video_id: { factor: have, alone: 1 }\n";

static const struct ag_workflow *workflow(const struct ag_policy *p,
					  const char *name)
{
	long i = ag_policy_workflow(p, name);
	if (i < 0)
		fail_msg("no workflow '%s'", name);
	return &p->workflows[i];
}

static const struct ag_method *method(const struct ag_policy *p,
				      const char *name)
{
	int i = ag_catalogue_find(&p->catalogue, name);
	if (i < 0)
		fail_msg("no method '%s'", name);
	return &p->catalogue.methods[i];
}

static void test_design_example_loads(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(design_policy);

	assert_string_equal(p->file, "policy.yaml");
	assert_int_equal(p->profile, AG_PROFILE_SP800_63B_4);
	assert_int_equal(p->assume[AG_KIND_MAILBOX], 1);
	assert_int_equal(p->assume[AG_KIND_PHONE], 1);
	assert_int_equal(p->n_workflows, 5);

	const struct ag_workflow *w = workflow(p, "admin");
	assert_int_equal(w->aal, 3);
	assert_true(w->phishing_resistant);
	assert_int_equal(w->device, AG_DEVICE_MANAGED);
	assert_int_equal(w->max_age, 12 * 3600);
	assert_int_equal(w->idle, 15 * 60);
	assert_true(w->jit);
	assert_int_equal(w->jit_max, 3600);
	assert_string_equal(w->jit_approvers, "group:admins");
	assert_int_equal(w->jit_approvals, 1);
	assert_int_equal(w->line, 4);
	assert_int_equal(w->col, 3);

	w = workflow(p, "payroll");
	assert_int_equal(w->aal, 2);
	assert_true(w->phishing_resistant);
	assert_int_equal(w->device, AG_DEVICE_ANY);
	assert_false(w->jit);

	assert_int_equal(workflow(p, "staff")->aal, 2);
	assert_false(workflow(p, "staff")->phishing_resistant);
	assert_int_equal(workflow(p, "recovery")->aal, AG_AAL_MATCH_ACCOUNT);

	w = workflow(p, "ci-deploy");
	assert_true(w->machine);
	assert_int_equal(w->aal, AG_AAL_UNSET);
	assert_int_equal(w->max_token_lifetime, 3600);
	assert_int_equal(w->n_credentials, 2);
	assert_int_equal(w->credentials[0],
			 ag_catalogue_find(&p->catalogue, "workload_identity"));
	assert_int_equal(w->credentials[1],
			 ag_catalogue_find(&p->catalogue, "mtls"));
	assert_int_equal(w->n_networks, 1);
	assert_int_equal(w->networks[0].family, AF_INET);
	assert_int_equal(w->networks[0].prefix, 16);
	assert_int_equal(w->networks[0].addr[0], 10);
	assert_int_equal(w->networks[0].addr[1], 20);

	assert_true(p->break_glass.set);
	assert_int_equal(p->break_glass.approvals, 2);
	assert_int_equal(p->break_glass.max, 4 * 3600);
	assert_true(p->break_glass.alert);

	assert_int_equal(p->default_workflow, -1);
	assert_int_equal(ag_policy_workflow(p, "nobody"), -1);

	const struct ag_method *m = method(p, "helpdesk_video_id");
	assert_int_equal(m->factor, AG_FACTOR_HAVE);
	assert_int_equal(m->alone, 1);
	assert_false(m->builtin);
	assert_int_equal(m->line, 19);
	assert_int_equal(m->col, 3);
	ag_policy_free(p);
}

/* The acr table maps claims to assurances; SP 800-63B-4 §2.3: an AAL3
 * claim must also say hardware and phishing resistance. */
static void test_acr_table(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(design_policy);
	assert_int_equal(p->n_acr, 5);
	assert_string_equal(p->acr[0].value,
			    "http://idmanagement.gov/ns/assurance/aal/2");
	assert_int_equal(p->acr[0].assurance.aal, 2);
	assert_false(p->acr[0].assurance.phishing_resistant);
	assert_false(p->acr[0].assurance.hardware);
	assert_int_equal(p->acr[0].line, 13);
	assert_int_equal(p->acr[0].col, 3);
	assert_string_equal(p->acr[1].value,
			    "http://idmanagement.gov/ns/assurance/aal/2"
			    "?phishing_resistant=true");
	assert_int_equal(p->acr[1].assurance.aal, 2);
	assert_true(p->acr[1].assurance.phishing_resistant);
	assert_int_equal(p->acr[2].assurance.aal, 3);
	assert_true(p->acr[2].assurance.phishing_resistant);
	assert_true(p->acr[2].assurance.hardware);
	assert_string_equal(p->acr[3].value, "phr");
	assert_int_equal(p->acr[3].assurance.aal, 2);
	assert_true(p->acr[3].assurance.phishing_resistant);
	assert_false(p->acr[3].assurance.hardware);
	assert_string_equal(p->acr[4].value, "phrh");
	assert_int_equal(p->acr[4].assurance.aal, 3);
	ag_policy_free(p);

	policy_fails("acr:\n  x: { aal: 3, phishing_resistant: true }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:6: acr 'x': AAL3 requires hardware: true "
		     "and phishing_resistant: true (SP 800-63B-4 §2.3)");
	policy_fails("acr:\n  x: { phishing_resistant: true }\n",
		     AG_ERR_INVALID, "policy.yaml:2:6: acr 'x' needs an aal");
	policy_fails("acr:\n  x: { aal: 4 }\n", AG_ERR_INVALID,
		     "policy.yaml:2:13: aal must be a whole number from 0 to 3, "
		     "not '4'");
	policy_fails("acr:\n  x: { aal: 2, phishing: true }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:16: unknown key 'phishing' in acr 'x'");
	policy_fails("acr:\n  x: 2\n", AG_ERR_INVALID,
		     "policy.yaml:2:6: acr 'x' must be a mapping, not a single "
		     "value");
}

static void test_unknown_keys(void **state)
{
	(void)state;
	policy_fails("profil: sp800-63b-4\n", AG_ERR_INVALID,
		     "policy.yaml:1:1: unknown key 'profil' in the policy; did "
		     "you mean 'profile'?");
	policy_fails("workflows:\n"
		     "  staff: { aal: 2, phishing_resistent: true }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:20: unknown key 'phishing_resistent' in "
		     "workflow 'staff'; did you mean 'phishing_resistant'?");
	policy_fails("workflows:\n  staff: { aal: 2, colour: red }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:20: unknown key 'colour' in workflow "
		     "'staff'");
	policy_fails("workflows:\n"
		     "  admin: { aal: 3, jit: { max: 1h, approver: x } }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:36: unknown key 'approver' in jit; did you "
		     "mean 'approvers'?");
	policy_fails("break_glass: { approvals: 2, alerts: true }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:1:30: unknown key 'alerts' in break_glass; did "
		     "you mean 'alert'?");
	policy_fails("assume: { mailbx: 0 }\n", AG_ERR_INVALID,
		     "policy.yaml:1:11: unknown key 'mailbx' in assume; did you "
		     "mean 'mailbox'?");
	/* assume is for accounts that can be referenced, not people. */
	policy_fails("assume: { human: 0 }\n", AG_ERR_INVALID,
		     "policy.yaml:1:11: unknown key 'human' in assume");
	policy_fails("recovery: { require_sentto: true }\n", AG_ERR_INVALID,
		     "policy.yaml:1:13: unknown key 'require_sentto' in "
		     "recovery; did you mean 'require_sent_to'?");
	policy_fails("recovery: { require_sent_to: maybe }\n", AG_ERR_INVALID,
		     "policy.yaml:1:30: recovery require_sent_to must be true "
		     "or false, not 'maybe'");
	policy_fails("recovery: [require_sent_to]\n", AG_ERR_INVALID,
		     "policy.yaml:1:11: recovery must be a mapping, not a "
		     "list");
}

static void test_workflow_values(void **state)
{
	(void)state;
	policy_fails("workflows:\n  staff: { aal: 4 }\n", AG_ERR_INVALID,
		     "policy.yaml:2:17: aal must be 0, 1, 2, 3 or "
		     "match_account, not '4'");
	policy_fails("workflows:\n  staff: { aal: [2] }\n", AG_ERR_INVALID,
		     "policy.yaml:2:17: aal must be 0, 1, 2, 3 or "
		     "match_account, not a list");
	policy_fails("workflows:\n  admin: { aal: 3, device: managd }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:28: device must be any, known or managed, "
		     "not 'managd'; did you mean 'managed'?");
	policy_fails("workflows:\n  staff: { aal: 2, max_age: 1h30m }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:29: bad duration '1h30m' for max_age (write "
		     "90s, 15m, 12h or 30d)");
	policy_fails("workflows:\n  staff: { aal: 2, idle: 36501d }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:26: idle '36501d' is too long (at most "
		     "36500d)");
	policy_fails("workflows:\n  staff: { aal: 2, phishing_resistant: yes }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:40: phishing_resistant must be true or "
		     "false, not 'yes'");
	policy_fails("workflows:\n  admin: { aal: 3, jit: { max: 1h } }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:25: jit needs approvers (for example "
		     "\"group:admins\") when approvals is 1");
	policy_fails("workflows:\n  ci: { machine: true, jit: { approvals: 0 } }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:3: workflow 'ci' is a machine workflow and "
		     "cannot require jit");
	policy_fails("workflows:\n  staff: { aal: 2 }\n  staff: { aal: 3 }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:3:3: duplicate key 'staff' (first at line 2)");
	policy_fails("workflows:\n  staff: 2\n", AG_ERR_INVALID,
		     "policy.yaml:2:10: workflow 'staff' must be a mapping, not "
		     "a single value");
	policy_fails("workflows: [staff]\n", AG_ERR_INVALID,
		     "policy.yaml:1:12: workflows must be a mapping, not a list");
}

/* An unknown method anywhere a method is named is an error with a hint. */
static void test_unknown_method_in_credentials(void **state)
{
	(void)state;
	policy_fails("workflows:\n"
		     "  ci: { machine: true, credentials: [workload_identity, "
		     "mtsl] }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:57: unknown method 'mtsl'; did you mean "
		     "'mtls'?");
	policy_fails("workflows:\n  ci: { credentials: [ssh_certificate] }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:23: unknown method 'ssh_certificate'");
	policy_fails("workflows:\n  ci: { credentials: mtls }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:22: credentials must be a list of methods, "
		     "not a single value");

	/* A method the same policy adds may be named, wherever it is. */
	struct ag_policy *p = policy_ok("workflows:\n"
					"  ci: { credentials: [ssh_cert] }\n"
					"methods:\n"
					"  ssh_cert: { factor: have, "
					"phishing_resistant: true }\n");
	const struct ag_workflow *w = workflow(p, "ci");
	assert_int_equal(w->n_credentials, 1);
	assert_int_equal(w->credentials[0],
			 ag_catalogue_find(&p->catalogue, "ssh_cert"));
	ag_policy_free(p);
}

/* Custom methods: SP 800-63B-4 §2.2.1 and §2.3.1 bound what a stated
 * level may claim. */
static void test_custom_methods(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(
		"methods:\n"
		"  helpdesk_video_id: { factor: have, alone: 1 }\n"
		"  ssh_cert: { factor: have, phishing_resistant: true }\n"
		"  piv_derived: { factor: multi, alone: 3, hardware: true,\n"
		"                 phishing_resistant: true, amr: [sc, pin] }\n"
		"  app_passkey: { factor: multi, phishing_resistant: true }\n"
		"  secret_question: { factor: none, prohibited: true }\n");
	const struct ag_method *m = method(p, "ssh_cert");
	assert_int_equal(m->alone, 1); /* default for have */
	assert_true(m->phishing_resistant);
	m = method(p, "app_passkey");
	assert_int_equal(m->alone, 2); /* default for multi */
	m = method(p, "piv_derived");
	assert_int_equal(m->alone, 3);
	assert_string_equal(m->amr[0], "sc");
	assert_string_equal(m->amr[1], "pin");
	assert_null(m->amr[2]);
	m = method(p, "secret_question");
	assert_int_equal(m->alone, 0);
	assert_true(m->prohibited);

	struct ag_assurance a;
	a = combine_in(&p->catalogue, LIST("helpdesk_video_id"),
		       AG_USE_SIGNIN);
	assert_int_equal(a.aal, 1);
	a = combine_in(&p->catalogue, LIST("password", "helpdesk_video_id"),
		       AG_USE_SIGNIN);
	assert_int_equal(a.aal, 2);
	a = combine_in(&p->catalogue, LIST("piv_derived"), AG_USE_SIGNIN);
	assert_int_equal(a.aal, 3);
	assert_true(a.hardware);
	a = combine_in(&p->catalogue, LIST("app_passkey"), AG_USE_SIGNIN);
	assert_int_equal(a.aal, 2);
	assert_false(a.hardware);
	a = combine_in(&p->catalogue, LIST("secret_question", "password"),
		       AG_USE_SIGNIN);
	assert_int_equal(a.aal, 1);
	ag_policy_free(p);
}

static void test_custom_method_validation(void **state)
{
	(void)state;
	/* §2.3.1: AAL3 alone needs a hardware, phishing-resistant key. */
	policy_fails("methods:\n"
		     "  gadget: { factor: multi, alone: 3, phishing_resistant: "
		     "true }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:35: method 'gadget' cannot reach AAL3 alone "
		     "without hardware and phishing_resistant");
	policy_fails("methods:\n"
		     "  gadget: { factor: multi, alone: 3, hardware: true }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:35: method 'gadget' cannot reach AAL3 alone "
		     "without hardware and phishing_resistant");
	/* §2.2.1: a multi-factor authenticator is AAL2 at least. */
	policy_fails("methods:\n  gadget: { factor: multi, alone: 1 }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:35: a multi-factor method gives at least "
		     "AAL2 alone; 'gadget' says 1");
	/* §2.2.1: a single factor cannot reach AAL2 alone. */
	policy_fails("methods:\n  gadget: { factor: have, alone: 2 }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:34: method 'gadget' cannot reach AAL2 alone "
		     "unless its factor is multi");
	policy_fails("methods:\n  gadget: { alone: 1 }\n", AG_ERR_INVALID,
		     "policy.yaml:2:3: method 'gadget' needs a factor (know, "
		     "have, are, multi or none)");
	policy_fails("methods:\n  gadget: { factor: hve }\n", AG_ERR_INVALID,
		     "policy.yaml:2:21: unknown factor 'hve' (know, have, are, "
		     "multi or none); did you mean 'have'?");
	policy_fails("methods:\n  gadget: { factor: have, alone: 1, hw: true }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:37: unknown key 'hw' in method 'gadget'");
	policy_fails("methods:\n  gadget: { factor: have, alone: 4 }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:34: alone must be a whole number from 0 to 3, "
		     "not '4'");
	/* §3.2.5: a delegated method is never phishing resistant. */
	policy_fails("methods:\n"
		     "  magic: { factor: have, delegated: email, "
		     "phishing_resistant: true }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:3: a delegated method is never phishing "
		     "resistant ('magic')");
	policy_fails("methods:\n  magic: { factor: have, delegated: fax }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:37: delegated must be email, phone or none, "
		     "not 'fax'");
	policy_fails("methods:\n  \"bad name\": { factor: have }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:3: bad method name 'bad name' (use letters, "
		     "digits, '_', '-', '.')");
	/* An override is validated as a whole: without hardware, a
	 * security_key_uv can no longer claim AAL3. */
	policy_fails("methods:\n  security_key_uv: { hardware: false }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:3: method 'security_key_uv' cannot reach "
		     "AAL3 alone without hardware and phishing_resistant");
}

/* Overriding a built-in changes every combination that uses it; a method
 * marked prohibited never counts (§3.1.1.2). */
static void test_override_builtin(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok("methods:\n"
					"  sms_otp: { prohibited: true }\n"
					"  security_key: { hardware: false }\n");
	const struct ag_method *m = method(p, "sms_otp");
	assert_true(m->prohibited);
	assert_false(m->builtin);
	assert_true(m->restricted); /* the rest is kept */
	assert_int_equal(m->delegated, AG_DELEG_PHONE);
	assert_int_equal(m->line, 2);

	struct ag_assurance a;
	a = combine_in(&p->catalogue, LIST("password", "sms_otp"),
		       AG_USE_SIGNIN);
	assert_int_equal(a.aal, 1);
	a = combine_in(&p->catalogue, LIST("sms_otp"), AG_USE_SIGNIN);
	assert_int_equal(a.aal, 0);
	a = combine_in(&p->catalogue, LIST("password", "security_key"),
		       AG_USE_SIGNIN);
	assert_int_equal(a.aal, 2);
	assert_false(a.hardware);
	assert_true(a.phishing_resistant);
	ag_policy_free(p);
}

static void test_routes(void **state)
{
	(void)state;
	/* Routes may come before the workflows they name. */
	struct ag_policy *p = policy_ok(
		"routes:\n"
		"  - { host: pay.example.net, path_prefix: /pay, workflow: "
		"payroll }\n"
		"  - { path_prefix: /, method: GET, workflow: staff }\n"
		"workflows:\n"
		"  staff: { aal: 2 }\n"
		"  payroll: { aal: 2, phishing_resistant: true }\n");
	assert_int_equal(p->n_routes, 2);
	assert_string_equal(p->routes[0].host, "pay.example.net");
	assert_string_equal(p->routes[0].path_prefix, "/pay");
	assert_null(p->routes[0].method);
	assert_int_equal(p->routes[0].workflow, ag_policy_workflow(p, "payroll"));
	assert_int_equal(p->routes[0].line, 2);
	assert_int_equal(p->routes[0].col, 5);
	assert_null(p->routes[1].host);
	assert_string_equal(p->routes[1].method, "GET");
	assert_int_equal(p->routes[1].workflow, ag_policy_workflow(p, "staff"));
	ag_policy_free(p);

	policy_fails("workflows:\n"
		     "  payroll: { aal: 2 }\n"
		     "routes:\n"
		     "  - { host: pay.example.net, path_prefix: /pay, workflow: "
		     "payrol }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:4:59: unknown workflow 'payrol'; did you mean "
		     "'payroll'?");
	policy_fails("routes:\n  - { path_prefix: /, workflow: staff }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:33: unknown workflow 'staff'");
	policy_fails("workflows:\n  staff: { aal: 2 }\n"
		     "routes:\n  - { host: x.example }\n",
		     AG_ERR_INVALID, "policy.yaml:4:5: a route needs a workflow");
	policy_fails("workflows:\n  staff: { aal: 2 }\n"
		     "routes:\n  - { path_prefix: pay, workflow: staff }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:4:5: path_prefix must start with '/', not "
		     "'pay'");
	policy_fails("workflows:\n  staff: { aal: 2 }\n"
		     "routes:\n  - { path: /, workflow: staff }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:4:7: unknown key 'path' in route");
	policy_fails("routes: { workflow: staff }\n", AG_ERR_INVALID,
		     "policy.yaml:1:9: routes must be a list, not a mapping");
}

static void test_default_workflow(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok("default_workflow: staff\n"
					"workflows:\n"
					"  admin: { aal: 3 }\n"
					"  staff: { aal: 2 }\n");
	assert_int_equal(p->default_workflow, 1);
	assert_string_equal(p->workflows[p->default_workflow].name, "staff");
	ag_policy_free(p);

	policy_fails("workflows:\n  staff: { aal: 2 }\n"
		     "default_workflow: staf\n",
		     AG_ERR_INVALID,
		     "policy.yaml:3:19: unknown workflow 'staf'; did you mean "
		     "'staff'?");
	policy_fails("workflows:\n  staff: { aal: 2 }\n"
		     "default_workflow: [staff]\n",
		     AG_ERR_INVALID,
		     "policy.yaml:3:19: default_workflow must be a single value, "
		     "not a list");
}

static void test_cidr_parse(void **state)
{
	(void)state;
	struct ag_cidr c;
	static const uint8_t v6_fd00[16] = {0xfd, 0x00};
	static const uint8_t v6_one[16] = {[15] = 1};

	assert_int_equal(ag_cidr_parse("10.0.0.0/8", &c), AG_OK);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 8);
	assert_int_equal(c.addr[0], 10);
	assert_int_equal(ag_cidr_parse("192.168.1.7", &c), AG_OK);
	assert_int_equal(c.prefix, 32);
	assert_int_equal(c.addr[3], 7);
	assert_int_equal(ag_cidr_parse("0.0.0.0/0", &c), AG_OK);
	assert_int_equal(c.prefix, 0);
	assert_int_equal(ag_cidr_parse("::1/128", &c), AG_OK);
	assert_int_equal(c.family, AF_INET6);
	assert_memory_equal(c.addr, v6_one, 16);
	assert_int_equal(ag_cidr_parse("fd00::/8", &c), AG_OK);
	assert_int_equal(c.prefix, 8);
	assert_memory_equal(c.addr, v6_fd00, 16);
	assert_int_equal(ag_cidr_parse("10.0.0.128/25", &c), AG_OK);

	/* Host bits set: almost always a typo. */
	assert_int_equal(ag_cidr_parse("10.0.0.1/8", &c), AG_ERR_INVALID);
	assert_int_equal(ag_cidr_parse("10.0.0.64/25", &c), AG_ERR_INVALID);
	assert_int_equal(ag_cidr_parse("fd00::1/64", &c), AG_ERR_INVALID);
	assert_int_equal(ag_cidr_parse("1.0.0.0/0", &c), AG_ERR_INVALID);
	/* Malformed. */
	assert_int_equal(ag_cidr_parse("10.0.0.0/33", &c), AG_ERR_INVALID);
	assert_int_equal(ag_cidr_parse("::/129", &c), AG_ERR_INVALID);
	assert_int_equal(ag_cidr_parse("10.0.0.0/", &c), AG_ERR_INVALID);
	assert_int_equal(ag_cidr_parse("10.0.0.0/-8", &c), AG_ERR_INVALID);
	assert_int_equal(ag_cidr_parse("/8", &c), AG_ERR_INVALID);
	assert_int_equal(ag_cidr_parse("", &c), AG_ERR_INVALID);
	assert_int_equal(ag_cidr_parse("10.0.0/8", &c), AG_ERR_INVALID);
	assert_int_equal(ag_cidr_parse("example.net/8", &c), AG_ERR_INVALID);
}

static void test_trusted_proxies(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(
		"trusted_proxies: [10.0.0.0/8, \"::1/128\", 192.168.1.7]\n");
	assert_int_equal(p->n_trusted_proxies, 3);
	assert_int_equal(p->trusted_proxies[0].family, AF_INET);
	assert_int_equal(p->trusted_proxies[0].prefix, 8);
	assert_int_equal(p->trusted_proxies[1].family, AF_INET6);
	assert_int_equal(p->trusted_proxies[1].prefix, 128);
	assert_int_equal(p->trusted_proxies[2].prefix, 32);
	ag_policy_free(p);

	policy_fails("trusted_proxies: [10.0.0.0/8, 10.1.2.3/8]\n",
		     AG_ERR_INVALID,
		     "policy.yaml:1:31: bad network '10.1.2.3/8' in "
		     "trusted_proxies (write 10.0.0.0/8 or ::1/128, host bits "
		     "zero)");
	policy_fails("trusted_proxies:\n  - \"fd00::1/64\"\n", AG_ERR_INVALID,
		     "policy.yaml:2:5: bad network 'fd00::1/64' in "
		     "trusted_proxies (write 10.0.0.0/8 or ::1/128, host bits "
		     "zero)");
	policy_fails("trusted_proxies: 10.0.0.0/8\n", AG_ERR_INVALID,
		     "policy.yaml:1:18: trusted_proxies must be a list, not a "
		     "single value");
	policy_fails("workflows:\n  ci: { machine: true, networks: "
		     "[10.20.0.1/16] }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:35: bad network '10.20.0.1/16' in networks "
		     "(write 10.0.0.0/8 or ::1/128, host bits zero)");
}

static void test_issuers(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(
		"issuers:\n"
		"  - { iss: \"https://idp.example\", audiences: [gate, api],\n"
		"      jwks_uri: \"https://idp.example/jwks\" }\n"
		"  - { iss: local, audiences: gate, jwks_file: /etc/j.json,\n"
		"      clock_skew: 5m }\n");
	assert_int_equal(p->n_issuers, 2);
	assert_string_equal(p->issuers[0].iss, "https://idp.example");
	assert_int_equal(p->issuers[0].n_audiences, 2);
	assert_string_equal(p->issuers[0].audiences[1], "api");
	assert_string_equal(p->issuers[0].jwks_uri, "https://idp.example/jwks");
	assert_null(p->issuers[0].jwks_file);
	assert_int_equal(p->issuers[0].clock_skew, 60);
	assert_int_equal(p->issuers[1].n_audiences, 1);
	assert_string_equal(p->issuers[1].jwks_file, "/etc/j.json");
	assert_null(p->issuers[1].jwks_uri);
	assert_int_equal(p->issuers[1].clock_skew, 300);
	ag_policy_free(p);

	/* Exactly one of jwks_file and jwks_uri. */
	policy_fails("issuers:\n"
		     "  - { iss: idp, jwks_file: /etc/j.json, jwks_uri: "
		     "\"https://idp/jwks\" }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:5: issuer 'idp' needs exactly one of "
		     "jwks_file and jwks_uri");
	policy_fails("issuers:\n  - { iss: idp }\n", AG_ERR_INVALID,
		     "policy.yaml:2:5: issuer 'idp' needs exactly one of "
		     "jwks_file and jwks_uri");
	policy_fails("issuers:\n  - { jwks_file: /etc/j.json }\n",
		     AG_ERR_INVALID, "policy.yaml:2:5: an issuer needs iss");
	policy_fails("issuers:\n  - { iss: idp, jwks_uri: \"http://idp/jwks\" }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:5: jwks_uri must use https://, not "
		     "'http://idp/jwks'");
	policy_fails("issuers:\n"
		     "  - { iss: idp, jwks_file: /j, clock_skew: 10m }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:5: clock_skew is at most 5m");
	policy_fails("issuers:\n  - { iss: idp, jwks: /j }\n", AG_ERR_INVALID,
		     "policy.yaml:2:17: unknown key 'jwks' in issuer");
}

static void test_break_glass_and_assume(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok("assume: { mailbox: 0, phone: 2 }\n");
	assert_int_equal(p->assume[AG_KIND_MAILBOX], 0);
	assert_int_equal(p->assume[AG_KIND_PHONE], 2);
	assert_int_equal(p->assume[AG_KIND_EXTERNAL], 1);
	assert_int_equal(p->assume[AG_KIND_DEVICE], 1);
	assert_false(p->break_glass.set);
	ag_policy_free(p);

	policy_fails("assume: { mailbox: 4 }\n", AG_ERR_INVALID,
		     "policy.yaml:1:20: assume must be a whole number from 0 to "
		     "3, not '4'");
	policy_fails("break_glass: { approvals: 0, alert: false }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:1:14: break_glass needs approvals or alert: "
		     "true: an unwatched emergency account is a way around "
		     "every workflow");
	policy_fails("break_glass: { approvals: 2, max: 4 }\n", AG_ERR_INVALID,
		     "policy.yaml:1:35: bad duration '4' for break_glass max "
		     "(write 90s, 15m, 12h or 30d)");
}

static void test_document_shape(void **state)
{
	(void)state;
	policy_fails("", AG_ERR_INVALID, "policy.yaml:1:1: empty file");
	policy_fails("# nothing here\n", AG_ERR_INVALID,
		     "policy.yaml:1:1: empty file");
	policy_fails("- a\n- b\n", AG_ERR_INVALID,
		     "policy.yaml:1:1: a policy must be a mapping, not a list");
	policy_fails("profile\n", AG_ERR_INVALID,
		     "policy.yaml:1:1: a policy must be a mapping, not a single "
		     "value");

	/* An empty mapping is a valid policy with every default. */
	struct ag_policy *p = policy_ok("{}\n");
	assert_int_equal(p->profile, AG_PROFILE_SP800_63B_4);
	assert_int_equal(p->n_workflows, 0);
	assert_int_equal(p->default_workflow, -1);
	for (int k = AG_KIND_MAILBOX; k < AG_KIND_COUNT; k++)
		assert_int_equal(p->assume[k], 1);
	assert_int_equal(p->nhi.stale, 90 * 86400);
	assert_int_equal(p->nhi.rotate, 90 * 86400);
	assert_int_equal(p->nhi.max_lifetime, 365 * 86400);
	ag_policy_free(p);
}

static void test_policy_size_cap(void **state)
{
	(void)state;
	size_t len = AG_POLICY_MAX_BYTES + 1;
	char *big = malloc(len);
	assert_non_null(big);
	memset(big, '#', len);
	struct ag_policy *p = (struct ag_policy *)1;
	struct ag_error err;
	ag_error_init(&err);
	assert_int_equal(ag_policy_load_buffer("big.yaml", big, len, &p, &err),
			 AG_ERR_LIMIT);
	assert_null(p);
	assert_string_equal(err.msg, "big.yaml: policy too large (at most "
				     "16777216 bytes)");
	free(big);
}

static void test_policy_load_file(void **state)
{
	(void)state;
	struct ag_policy *p = (struct ag_policy *)1;
	struct ag_error err;

	ag_error_init(&err);
	assert_int_equal(ag_policy_load("/nonexistent/policy.yaml", &p, &err),
			 AG_ERR_IO);
	assert_null(p);
	assert_string_equal(err.msg, "/nonexistent/policy.yaml: cannot open: "
				     "No such file or directory");

	char path[] = "/tmp/ag-policy-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	static const char text[] = "workflows:\n  staff: { aal: 2 }\n"
				   "  admin: { aal: 3, idle: 1h }\n";
	assert_int_equal(write(fd, text, sizeof(text) - 1),
			 (ssize_t)(sizeof(text) - 1));
	close(fd);
	ag_error_init(&err);
	assert_int_equal(ag_policy_load(path, &p, &err), AG_ERR_INVALID);
	char want[200];
	snprintf(want, sizeof(want),
		 "%s:3:26: idle 1h is longer than sp800-63b-4 allows for AAL3 "
		 "(15m); set allow_weaker_than_profile: true to accept it",
		 path);
	assert_string_equal(err.msg, want);
	unlink(path);
}

/* ag_workflow_satisfied: level, phishing resistance (§3.2.5), hardware. */
/* docs/policy.md: "alone" is the AAL a method gives on its own.  A policy
 * method at alone: 0 gives AAL0 alone but still counts as its factor in
 * a combination (like pin); factor none cannot claim a level. */
static void test_custom_alone_zero(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok("methods:\n"
					"  weak_q: { factor: know, alone: 0 }\n");
	struct ag_assurance a =
		combine_in(&p->catalogue, LIST("weak_q"), AG_USE_SIGNIN);
	assert_int_equal(a.aal, 0);
	a = combine_in(&p->catalogue, LIST("weak_q", "totp"), AG_USE_SIGNIN);
	assert_int_equal(a.aal, 2);
	ag_policy_free(p);
	policy_fails("methods:\n  odd: { factor: none, alone: 1 }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:31: method 'odd' has factor none and so "
		     "gives AAL0 alone, not AAL1");
}

static void test_workflow_satisfied(void **state)
{
	(void)state;
	struct ag_policy *p = policy_ok(
		"workflows:\n"
		"  admin: { aal: 3, phishing_resistant: true, hardware: true }\n"
		"  payroll: { aal: 2, phishing_resistant: true }\n"
		"  staff: { aal: 2 }\n"
		"  recovery: { aal: match_account }\n"
		"  none: { description: no level }\n");
	const struct ag_assurance a3 = {3, true, true};
	const struct ag_assurance a2pr = {2, true, false};
	const struct ag_assurance a2 = {2, false, false};
	const struct ag_assurance a3nohw = {3, true, false};

	assert_true(ag_workflow_satisfied(workflow(p, "admin"), &a3));
	assert_false(ag_workflow_satisfied(workflow(p, "admin"), &a3nohw));
	assert_false(ag_workflow_satisfied(workflow(p, "admin"), &a2pr));
	assert_true(ag_workflow_satisfied(workflow(p, "payroll"), &a2pr));
	assert_true(ag_workflow_satisfied(workflow(p, "payroll"), &a3));
	assert_false(ag_workflow_satisfied(workflow(p, "payroll"), &a2));
	assert_true(ag_workflow_satisfied(workflow(p, "staff"), &a2));
	assert_false(ag_workflow_satisfied(workflow(p, "recovery"), &a3));
	assert_false(ag_workflow_satisfied(workflow(p, "none"), &a3));
	ag_policy_free(p);
}

/* Files named by the policy are found beside it, not in the working
 * directory; absolute paths stay as written. */
static void test_paths_relative_to_policy(void **state)
{
	static const char y[] =
		"issuers:\n"
		"  - { iss: a, audiences: x, jwks_file: keys/a.json }\n"
		"  - { iss: b, audiences: x, jwks_file: /srv/b.json }\n"
		"  - { iss: c, audiences: x, jwks_uri: \"https://c.example/jwks\",\n"
		"      jwks_ca_file: ca.pem }\n";
	struct ag_policy *p = NULL;
	struct ag_error err;
	(void)state;
	ag_error_init(&err);
	assert_int_equal(ag_policy_load_buffer("/etc/aalgate/policy.yaml", y,
					       strlen(y), &p, &err),
			 AG_OK);
	assert_string_equal(p->issuers[0].jwks_file,
			    "/etc/aalgate/keys/a.json");
	assert_string_equal(p->issuers[1].jwks_file, "/srv/b.json");
	assert_string_equal(p->issuers[2].jwks_ca_file, "/etc/aalgate/ca.pem");
	ag_policy_free(p);
	p = policy_ok(y); /* "policy.yaml": the working directory */
	assert_string_equal(p->issuers[0].jwks_file, "keys/a.json");
	ag_policy_free(p);
}

/* RFC 8725 §3.9: an issuer must say which audiences it accepts. */
static void test_audiences_required(void **state)
{
	(void)state;
	policy_fails("issuers:\n  - { iss: idp, jwks_file: /j }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:5: issuer 'idp' needs audiences: without "
		     "them a token issued for any other application would be "
		     "accepted (RFC 8725 §3.9); write audiences: \"*\" to "
		     "accept any on purpose");
	policy_fails("issuers:\n  - { iss: idp, audiences: [a, \"*\"], "
		     "jwks_file: /j }\n",
		     AG_ERR_INVALID,
		     "policy.yaml:2:5: issuer 'idp': audiences \"*\" accepts "
		     "any audience and cannot be listed with others");
	struct ag_policy *p = policy_ok("issuers:\n  - { iss: idp, audiences: "
					"\"*\", jwks_file: /j }\n");
	assert_string_equal(p->issuers[0].audiences[0], "*");
	ag_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_design_example_loads),
		cmocka_unit_test(test_acr_table),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_workflow_values),
		cmocka_unit_test(test_unknown_method_in_credentials),
		cmocka_unit_test(test_custom_methods),
		cmocka_unit_test(test_custom_method_validation),
		cmocka_unit_test(test_override_builtin),
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_default_workflow),
		cmocka_unit_test(test_cidr_parse),
		cmocka_unit_test(test_trusted_proxies),
		cmocka_unit_test(test_issuers),
		cmocka_unit_test(test_break_glass_and_assume),
		cmocka_unit_test(test_document_shape),
		cmocka_unit_test(test_policy_size_cap),
		cmocka_unit_test(test_policy_load_file),
		cmocka_unit_test(test_workflow_satisfied),
		cmocka_unit_test(test_custom_alone_zero),
		cmocka_unit_test(test_paths_relative_to_policy),
		cmocka_unit_test(test_audiences_required),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
