/*
 * Machine identities at the gate (docs/gate.md): the client hook over the
 * inventory files and the state store, and the thumbprint of the TLS
 * client certificate a proxy passes on (RFC 8705 §3).  The judgement of
 * a client is ag_nhi_client_ok's (inventory.c); this file only finds the
 * records and reads what the decision needs from them.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "aalgate/gate.h"
#include "aalgate/govern.h"
#include "aalgate/nhi.h"
#include "util.h"
#include "banned.h"

/* Fills out from rec, which ag_nhi_client_ok accepted. */
static bool client_of(const struct ag_policy *p, const struct ag_nhi *rec,
		      struct ag_gate_client *out, char *why, size_t why_len)
{
	int m = rec->method >= 0 ? rec->method
				 : ag_catalogue_find(&p->catalogue, rec->kind);
	if (m < 0 || (size_t)m >= p->catalogue.n) {
		snprintf(why, why_len,
			 "its kind '%.60s' is not a method of the policy",
			 rec->kind ? rec->kind : "");
		return false;
	}
	if (rec->thumbprint && strlen(rec->thumbprint) > AG_THUMBPRINT_MAX) {
		snprintf(why, why_len, "its recorded thumbprint is longer than "
				       "%d characters",
			 AG_THUMBPRINT_MAX);
		return false;
	}
	out->method = m;
	out->key_bound = ag_nhi_key_bound(p, rec);
	ag_strlcpy(out->thumbprint, rec->thumbprint ? rec->thumbprint : "",
		   sizeof(out->thumbprint));
	return true;
}

bool ag_gate_nhi_client(const struct ag_policy *p,
			const struct ag_nhi_inventory *inv,
			struct ag_store *store, const char *iss,
			const char *client, int64_t now,
			struct ag_gate_client *out, char *why, size_t why_len)
{
	struct ag_nhi srec;
	struct ag_error err;
	bool have_store = false, ok = false;

	memset(out, 0, sizeof(*out));
	out->method = -1;
	memset(&srec, 0, sizeof(srec));
	if (why_len)
		why[0] = '\0';
	if (!p || !client) {
		snprintf(why, why_len, "no policy or no client");
		return false;
	}
	if (!inv && !store) {
		snprintf(why, why_len, "no machine inventory is loaded");
		return false;
	}
	const struct ag_nhi *frec = inv ? ag_nhi_find(inv, iss, client) : NULL;
	if (store) {
		ag_error_init(&err);
		ag_code rc = ag_store_nhi_get(store, iss, client, &srec, &err);
		if (rc == AG_OK) {
			have_store = true;
		} else if (rc != AG_ERR_NOT_FOUND) {
			/* A store that cannot answer denies. */
			snprintf(why, why_len, "the state store cannot be "
					       "read: %.100s",
				 err.msg);
			out->failed = true;
			return false;
		}
	}
	if (!frec && !have_store)
		return ag_nhi_client_ok(p, NULL, iss, now, why, why_len);
	if (frec && !ag_nhi_client_ok(p, frec, iss, now, why, why_len))
		goto out;
	if (have_store && !ag_nhi_client_ok(p, &srec, iss, now, why, why_len))
		goto out;
	ok = client_of(p, have_store ? &srec : frec, out, why, why_len);
out:
	if (have_store)
		ag_nhi_release(&srec);
	if (!ok) {
		memset(out, 0, sizeof(*out));
		out->method = -1;
	}
	return ok;
}

/* ---- the client certificate ------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Decodes standard base64 between s and e (line breaks and blanks
 * allowed, as in PEM) with OpenSSL's decoder.  out holds at least
 * (e - s) / 4 * 3 + 80 bytes. */
static bool b64_decode(const char *s, const char *e, unsigned char *out,
		       size_t *out_len)
{
	if (e - s > INT_MAX / 2)
		return false;
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	if (!ctx)
		return false;
	int n = 0, fin = 0;
	EVP_DecodeInit(ctx);
	bool ok = EVP_DecodeUpdate(ctx, out, &n, (const unsigned char *)s,
				   (int)(e - s)) >= 0 &&
		  EVP_DecodeFinal(ctx, out + n, &fin) >= 0;
	EVP_ENCODE_CTX_free(ctx);
	if (!ok)
		return false;
	*out_len = (size_t)n + (size_t)fin;
	return true;
}

#define PEM_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_END "-----END CERTIFICATE-----"

bool ag_cert_x5t(const char *value, char *out, size_t out_len, char *why,
		 size_t why_len)
{
	char *text = NULL;
	unsigned char *der = NULL;
	X509 *x = NULL;
	bool ok = false;

	if (out_len)
		out[0] = '\0';
	if (!value || !*value) {
		snprintf(why, why_len, "the client certificate header is empty");
		return false;
	}
	size_t n = strlen(value);
	if (n > AG_CERT_HEADER_MAX) {
		snprintf(why, why_len, "the client certificate header is "
				       "longer than %d bytes",
			 AG_CERT_HEADER_MAX);
		return false;
	}
	if (out_len < 44) {
		snprintf(why, why_len, "no room for a thumbprint");
		return false;
	}
	/* URL-escaped PEM: decode the escapes (and "+" is a plus: nginx
	 * escapes it, a form would mean a space, and base64 needs it). */
	if (!(text = malloc(n + 1))) {
		snprintf(why, why_len, "out of memory");
		return false;
	}
	size_t t = 0;
	for (size_t i = 0; i < n; i++) {
		if (value[i] == '%') {
			int hi = hexval(value[i + 1]);
			int lo = hi < 0 ? -1 : hexval(value[i + 2]);
			if (hi < 0 || lo < 0) {
				snprintf(why, why_len, "the client certificate "
						       "header has a bad %% "
						       "escape");
				goto out;
			}
			text[t++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			text[t++] = value[i];
		}
	}
	text[t] = '\0';
	const char *b = text, *e = text + t;
	const char *begin = strstr(text, PEM_BEGIN);
	if (begin) {
		/* From after the BEGIN line: the two lines' dashes must not
		 * be shared, or END would come before the body starts. */
		const char *end = strstr(begin + strlen(PEM_BEGIN), PEM_END);
		if (!end) {
			snprintf(why, why_len, "the client certificate has no "
					       "END CERTIFICATE line");
			goto out;
		}
		/* Exactly one certificate, nothing else but whitespace. */
		for (const char *c = text; c < begin; c++)
			if (!space(*c)) {
				snprintf(why, why_len, "text before the client "
						       "certificate");
				goto out;
			}
		for (const char *c = end + strlen(PEM_END); *c; c++)
			if (!space(*c)) {
				snprintf(why, why_len, "text after the client "
						       "certificate");
				goto out;
			}
		b = begin + strlen(PEM_BEGIN);
		e = end;
	}
	if (!(der = malloc((size_t)(e - b) / 4 * 3 + 80))) {
		snprintf(why, why_len, "out of memory");
		goto out;
	}
	size_t dlen = 0;
	if (!b64_decode(b, e, der, &dlen) || dlen == 0) {
		snprintf(why, why_len, "the client certificate is not base64");
		goto out;
	}
	const unsigned char *p = der;
	x = d2i_X509(NULL, &p, (long)dlen);
	if (!x || p != der + dlen) {
		snprintf(why, why_len, "the client certificate is not one "
				       "X.509 certificate");
		goto out;
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	if (!EVP_Digest(der, dlen, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != 32) {
		snprintf(why, why_len, "cannot hash the client certificate");
		goto out;
	}
	ag_b64url_encode(md, mdlen, out);
	ok = true;
out:
	X509_free(x);
	free(der);
	free(text);
	return ok;
}
