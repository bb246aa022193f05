/*
 * Authenticator binding (docs/govern.md): what authentication a subscriber
 * must show to bind a new authenticator to their account.  Pure
 * assurance logic over the method catalogue; the store applies it inside
 * the transaction that writes the enrolment.
 */
#include <string.h>

#include "aalgate/govern.h"
#include "util.h"
#include "banned.h"

/* Distinct methods considered; a catalogue larger than this is cut (the
 * rest still count towards the account's level, through ag_combine). */
#define DISTINCT_MAX 64

/* ag_combine of up to three methods plus one more. */
static int level_of(const struct ag_catalogue *cat, const uint16_t *set,
		    size_t n)
{
	struct ag_assurance a;
	ag_combine(cat, set, n, AG_USE_SIGNIN, &a);
	return a.aal;
}

/* Does adding m to s[0..n) reach a higher level than s alone?  Returns
 * that level, or 0 when m adds nothing. */
static int contributes(const struct ag_catalogue *cat, uint16_t *s, size_t n,
		       uint16_t m)
{
	int without = level_of(cat, s, n);
	s[n] = m;
	int with = level_of(cat, s, n + 1);
	return with > without ? with : 0;
}

void ag_binding_require(const struct ag_catalogue *cat,
			const uint16_t *enrolled, size_t n, uint16_t method,
			struct ag_binding *out)
{
	uint16_t d[DISTINCT_MAX];
	size_t nd = 0;
	struct ag_assurance own;

	memset(out, 0, sizeof(*out));
	ag_combine(cat, enrolled, n, AG_USE_SIGNIN, &own);
	out->account_aal = own.aal;

	/* The distinct methods the account holds: a second device of one
	 * kind adds no factor. */
	for (size_t i = 0; i < n && nd < DISTINCT_MAX; i++) {
		bool seen = false;
		if (enrolled[i] >= cat->n)
			continue;
		for (size_t k = 0; k < nd && !seen; k++)
			seen = d[k] == enrolled[i];
		if (!seen)
			d[nd++] = enrolled[i];
	}

	/*
	 * The highest level the new method helps reach: over the sets S of
	 * enrolled methods, the level of S + method where that is above
	 * S's own.  ag_combine's rules (docs/internals/assurance.md) are met
	 * by one multi-factor authenticator or a pair of factors, plus at most
	 * a device that a pin or biometric unlocks, so S never needs more
	 * than three members.
	 */
	int best = 0;
	uint16_t s[4];
	if (method < cat->n) {
		best = contributes(cat, s, 0, method);
		for (size_t a = 0; a < nd && best < 3; a++) {
			s[0] = d[a];
			int l = contributes(cat, s, 1, method);
			best = l > best ? l : best;
			for (size_t b = a + 1; b < nd && best < 3; b++) {
				s[0] = d[a];
				s[1] = d[b];
				l = contributes(cat, s, 2, method);
				best = l > best ? l : best;
				for (size_t c = b + 1; c < nd && best < 3;
				     c++) {
					s[0] = d[a];
					s[1] = d[b];
					s[2] = d[c];
					l = contributes(cat, s, 3, method);
					best = l > best ? l : best;
				}
			}
		}
	}
	out->method_aal = best;

	if (own.aal < 1) {
		/* Nothing enrolled authenticates: there is no level the
		 * caller could have shown. */
		out->bootstrap = true;
		out->required = 0;
		return;
	}
	out->required = own.aal < best ? own.aal : best;
	/* Whatever the new method adds, an account that authenticates
	 * takes no binding from a caller who did not. */
	if (out->required < 1)
		out->required = 1;
}

bool ag_binding_allowed(const struct ag_binding *b,
			const struct ag_assurance *auth)
{
	if (!b)
		return false;
	if (b->bootstrap)
		return true;
	if (!auth || auth->aal < 1)
		return false;
	return auth->aal >= b->required;
}
