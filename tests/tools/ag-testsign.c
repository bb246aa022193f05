/*
 * ag-testsign: makes tokens and key sets for tests and benchmarks.
 *
 *   ag-testsign sign --key KEY.pem --alg ALG [--kid KID] [--header JSON]
 *               [--raw-sig HEX] < claims.json
 *	Prints a compact JWS of the claims, read verbatim from stdin (so a
 *	test can send duplicate keys), signed with the PEM private key.  ALG
 *	is RS256/384/512, PS256/384/512, ES256/384 or EdDSA; HS256/384/512
 *	use the bytes of KEY as the secret, and "none" (any case) signs
 *	nothing.  --header merges members into the header (crit, typ, or
 *	another alg); --raw-sig uses these bytes as the signature.
 *
 *   ag-testsign jwks KID=KEY.pem [KID=KEY.pem...]
 *	Prints a JWK set of the public keys (RSA, EC P-256/P-384, Ed25519).
 *
 *   ag-testsign jkt KEY.pem
 *	Prints the key's JWK SHA-256 thumbprint (RFC 7638), for cnf "jkt".
 *
 *   ag-testsign dpop --key KEY.pem --alg ALG --htm METHOD --htu URL
 *               [--token TOKEN] [--iat N] [--jti J] [--header JSON]
 *               [--count N]
 *	Prints a DPoP proof (RFC 9449 §4.2): typ "dpop+jwt", the public
 *	key as "jwk", and jti (random unless given), htm, htu, iat (now
 *	unless given) and, with --token, ath.  --header merges members into
 *	the header, as for sign.  --count prints N proofs, a line each, each
 *	with its own random jti.
 *
 * Exit status 0 on success, 2 on bad usage, 1 on any other failure.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "banned.h"

#define INPUT_MAX (16u * 1024u * 1024u)

static int die(const char *what)
{
	fprintf(stderr, "ag-testsign: %s\n", what);
	ERR_print_errors_fp(stderr);
	return 1;
}

static int usage(void)
{
	fputs("usage: ag-testsign sign --key KEY.pem --alg ALG [--kid KID] "
	      "[--header JSON] [--raw-sig HEX] < claims.json\n"
	      "       ag-testsign jwks KID=KEY.pem [KID=KEY.pem...]\n"
	      "       ag-testsign jkt KEY.pem\n"
	      "       ag-testsign dpop --key KEY.pem --alg ALG --htm METHOD "
	      "--htu URL [--token T] [--iat N] [--jti J] [--header JSON] "
	      "[--count N]\n",
	      stderr);
	return 2;
}

/* base64url without padding; the result is malloc'd. */
static char *b64url(const unsigned char *p, size_t n)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789-_";
	char *out = malloc(n / 3 * 4 + 5), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		unsigned long v = (unsigned long)p[i] << 16 |
				  (unsigned long)p[i + 1] << 8 | p[i + 2];
		*o++ = abc[v >> 18 & 63];
		*o++ = abc[v >> 12 & 63];
		*o++ = abc[v >> 6 & 63];
		*o++ = abc[v & 63];
	}
	if (n - i == 1) {
		*o++ = abc[p[i] >> 2];
		*o++ = abc[(p[i] & 3) << 4];
	} else if (n - i == 2) {
		unsigned long v = (unsigned long)p[i] << 8 | p[i + 1];
		*o++ = abc[v >> 10 & 63];
		*o++ = abc[v >> 4 & 63];
		*o++ = abc[(v & 15) << 2];
	}
	*o = '\0';
	return out;
}

/* Reads a whole stream (at most INPUT_MAX bytes). */
static unsigned char *read_all(FILE *f, size_t *len)
{
	size_t alloc = 65536, n = 0;
	unsigned char *buf = malloc(alloc);

	while (buf) {
		n += fread(buf + n, 1, alloc - n, f);
		if (n < alloc)
			break;
		if (alloc >= INPUT_MAX) {
			free(buf);
			return NULL;
		}
		unsigned char *b = realloc(buf, alloc * 2);
		if (!b)
			free(buf);
		buf = b;
		alloc *= 2;
	}
	if (buf && ferror(f)) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

static unsigned char *read_path(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;

	if (!f)
		return NULL;
	buf = read_all(f, len);
	fclose(f);
	return buf;
}

static EVP_PKEY *load_key(const char *path, bool private_key)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	if (!f)
		return NULL;
	k = private_key ? PEM_read_PrivateKey(f, NULL, NULL, NULL)
			: PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

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

static unsigned char *from_hex(const char *s, size_t *len)
{
	size_t n = strlen(s);
	unsigned char *out = malloc(n / 2 + 1);

	if (!out || n % 2) {
		free(out);
		return NULL;
	}
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0) {
			free(out);
			return NULL;
		}
		out[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	*len = n / 2;
	return out;
}

/* ---- signing ----------------------------------------------------------- */

struct alg {
	const char *name;
	const char *md;
	char kind; /* 'R' RSA, 'P' PSS, 'E' ECDSA, 'D' EdDSA, 'H' HMAC */
	size_t ec_len;
};

static const struct alg algs[] = {
	{"RS256", "SHA256", 'R', 0}, {"RS384", "SHA384", 'R', 0},
	{"RS512", "SHA512", 'R', 0}, {"PS256", "SHA256", 'P', 0},
	{"PS384", "SHA384", 'P', 0}, {"PS512", "SHA512", 'P', 0},
	{"ES256", "SHA256", 'E', 32}, {"ES384", "SHA384", 'E', 48},
	{"EdDSA", NULL, 'D', 0},      {"HS256", "SHA256", 'H', 0},
	{"HS384", "SHA384", 'H', 0},  {"HS512", "SHA512", 'H', 0},
};

/* DER ECDSA signature to the raw R || S of JWS. */
static int der_to_raw(const unsigned char *der, size_t len, size_t half,
		      unsigned char *out)
{
	const unsigned char *p = der;
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
	const BIGNUM *r, *sv;
	int ok;

	if (!s)
		return 0;
	ECDSA_SIG_get0(s, &r, &sv);
	ok = BN_bn2binpad(r, out, (int)half) == (int)half &&
	     BN_bn2binpad(sv, out + half, (int)half) == (int)half;
	ECDSA_SIG_free(s);
	return ok;
}

static unsigned char *sign_pkey(const struct alg *a, const char *keyfile,
				const char *input, size_t *sig_len)
{
	EVP_PKEY *key = load_key(keyfile, true);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *sig = NULL, *raw = NULL;
	size_t len = 0;

	if (!key || !md ||
	    EVP_DigestSignInit_ex(md, &pctx, a->md, NULL, NULL, key, NULL) != 1)
		goto out;
	if (a->kind == 'P' &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) !=
		     1 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, a->md, NULL) != 1))
		goto out;
	if (EVP_DigestSign(md, NULL, &len, (const unsigned char *)input,
			   strlen(input)) != 1 ||
	    !(sig = malloc(len)) ||
	    EVP_DigestSign(md, sig, &len, (const unsigned char *)input,
			   strlen(input)) != 1) {
		free(sig);
		sig = NULL;
		goto out;
	}
	*sig_len = len;
	if (a->kind == 'E') {
		raw = malloc(2 * a->ec_len);
		if (!raw || !der_to_raw(sig, len, a->ec_len, raw)) {
			free(raw);
			raw = NULL;
		}
		free(sig);
		sig = raw;
		*sig_len = 2 * a->ec_len;
	}
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	return sig;
}

static unsigned char *sign_hmac(const struct alg *a, const char *keyfile,
				const char *input, size_t *sig_len)
{
	size_t klen = 0;
	unsigned char *secret = read_path(keyfile, &klen);
	unsigned char *mac = malloc(EVP_MAX_MD_SIZE);

	if (!secret || !mac ||
	    !EVP_Q_mac(NULL, "HMAC", NULL, a->md, NULL, secret, klen,
		       (const unsigned char *)input, strlen(input), mac,
		       EVP_MAX_MD_SIZE, sig_len)) {
		free(mac);
		mac = NULL;
	}
	free(secret);
	return mac;
}

static json_t *make_header(const char *alg, const char *kid,
			   const char *extra)
{
	json_t *h = json_object(), *x;

	if (!h || json_object_set_new(h, "alg", json_string(alg)) ||
	    (kid && json_object_set_new(h, "kid", json_string(kid))))
		goto fail;
	if (extra) {
		if (!(x = json_loads(extra, 0, NULL)) ||
		    json_object_update(h, x)) {
			json_decref(x);
			goto fail;
		}
		json_decref(x);
	}
	return h;
fail:
	json_decref(h);
	return NULL;
}

/* Prints header.payload.signature: the header's JSON and the payload's
 * bytes, signed with a (or rawsig, or nothing for "none"). */
static int emit(json_t *hdr, const unsigned char *payload, size_t plen,
		const struct alg *a, const char *key, const char *rawsig)
{
	unsigned char *sig = NULL;
	char *hjson = NULL, *h64 = NULL, *p64 = NULL, *s64 = NULL,
	     *input = NULL;
	size_t slen = 0;
	int rc = 1;

	hjson = json_dumps(hdr, JSON_COMPACT);
	h64 = hjson ? b64url((unsigned char *)hjson, strlen(hjson)) : NULL;
	p64 = b64url(payload, plen);
	if (!h64 || !p64 || !(input = malloc(strlen(h64) + strlen(p64) + 2)))
		goto fail;
	snprintf(input, strlen(h64) + strlen(p64) + 2, "%s.%s", h64, p64);
	if (rawsig)
		sig = from_hex(rawsig, &slen);
	else if (!a)
		sig = calloc(1, 1); /* none */
	else if (a->kind == 'H')
		sig = sign_hmac(a, key, input, &slen);
	else
		sig = sign_pkey(a, key, input, &slen);
	if (!sig || !(s64 = b64url(sig, slen)))
		goto fail;
	printf("%s.%s\n", input, s64);
	rc = fflush(stdout) ? 1 : 0;
fail:
	if (rc)
		die("cannot sign");
	free(hjson);
	free(h64);
	free(p64);
	free(s64);
	free(input);
	free(sig);
	return rc;
}

static int cmd_sign(int argc, char **argv)
{
	const char *key = NULL, *alg = NULL, *kid = NULL, *extra = NULL,
		   *rawsig = NULL;
	unsigned char *payload = NULL;
	size_t plen = 0;
	json_t *hdr = NULL;
	int rc;

	for (int i = 2; i < argc; i += 2) {
		if (i + 1 >= argc)
			return usage();
		if (!strcmp(argv[i], "--key"))
			key = argv[i + 1];
		else if (!strcmp(argv[i], "--alg"))
			alg = argv[i + 1];
		else if (!strcmp(argv[i], "--kid"))
			kid = argv[i + 1];
		else if (!strcmp(argv[i], "--header"))
			extra = argv[i + 1];
		else if (!strcmp(argv[i], "--raw-sig"))
			rawsig = argv[i + 1];
		else
			return usage();
	}
	if (!alg || (!key && !rawsig && strcasecmp(alg, "none")))
		return usage();
	const struct alg *a = NULL;
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (!strcmp(algs[i].name, alg))
			a = &algs[i];
	if (!a && !rawsig && strcasecmp(alg, "none"))
		return die("unknown --alg");
	if (!(hdr = make_header(alg, kid, extra)))
		return die("bad --header");
	if (!(payload = read_all(stdin, &plen)))
		rc = die("cannot read the claims");
	else
		rc = emit(hdr, payload, plen, a, key, rawsig);
	json_decref(hdr);
	free(payload);
	return rc;
}

/* ---- JWK sets ---------------------------------------------------------- */

static int set_b64(json_t *o, const char *name, const unsigned char *p,
		   size_t n)
{
	char *s = b64url(p, n);
	int rc = s ? json_object_set_new(o, name, json_string(s)) : -1;

	free(s);
	return rc;
}

/* Sets name to the big-endian bytes of BIGNUM param, padded to pad. */
static int set_bn(json_t *o, const char *name, EVP_PKEY *k, const char *param,
		  int pad)
{
	BIGNUM *bn = NULL;
	unsigned char buf[1024];
	int n, rc = -1;

	if (!EVP_PKEY_get_bn_param(k, param, &bn))
		return -1;
	n = pad ? pad : BN_num_bytes(bn);
	if (n <= (int)sizeof(buf) && BN_bn2binpad(bn, buf, n) == n)
		rc = set_b64(o, name, buf, (size_t)n);
	BN_free(bn);
	return rc;
}

static int set_str(json_t *o, const char *name, const char *value)
{
	return json_object_set_new(o, name, json_string(value));
}

static json_t *jwk_of(EVP_PKEY *k, const char *kid)
{
	json_t *o = json_object();
	char group[64];
	unsigned char raw[64];
	size_t rawlen = sizeof(raw);
	int bad;

	if (!o)
		return NULL;
	bad = set_str(o, "kid", kid) || set_str(o, "use", "sig");
	if (EVP_PKEY_is_a(k, "RSA")) {
		bad = bad || set_str(o, "kty", "RSA") ||
		      set_bn(o, "n", k, OSSL_PKEY_PARAM_RSA_N, 0) ||
		      set_bn(o, "e", k, OSSL_PKEY_PARAM_RSA_E, 0);
	} else if (EVP_PKEY_is_a(k, "EC") &&
		   EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME,
						  group, sizeof(group), NULL)) {
		bool p256 = !strcmp(group, "prime256v1");
		int flen = p256 ? 32 : 48;
		bad = bad || (!p256 && strcmp(group, "secp384r1")) ||
		      set_str(o, "kty", "EC") ||
		      set_str(o, "crv", p256 ? "P-256" : "P-384") ||
		      set_bn(o, "x", k, OSSL_PKEY_PARAM_EC_PUB_X, flen) ||
		      set_bn(o, "y", k, OSSL_PKEY_PARAM_EC_PUB_Y, flen);
	} else if (EVP_PKEY_is_a(k, "ED25519") &&
		   EVP_PKEY_get_raw_public_key(k, raw, &rawlen)) {
		bad = bad || set_str(o, "kty", "OKP") ||
		      set_str(o, "crv", "Ed25519") ||
		      set_b64(o, "x", raw, rawlen);
	} else {
		bad = 1;
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int cmd_jwks(int argc, char **argv)
{
	json_t *set = json_object(), *keys = json_array();
	int rc = 1;

	if (argc < 3)
		return usage();
	if (!set || !keys || json_object_set(set, "keys", keys))
		goto out;
	for (int i = 2; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq) {
			rc = usage();
			goto out;
		}
		*eq = '\0';
		EVP_PKEY *k = load_key(eq + 1, true);
		if (!k)
			k = load_key(eq + 1, false);
		json_t *jwk = k ? jwk_of(k, argv[i]) : NULL;
		EVP_PKEY_free(k);
		if (!jwk || json_array_append_new(keys, jwk)) {
			fprintf(stderr, "ag-testsign: %s: not a usable key\n",
				eq + 1);
			goto out;
		}
	}
	if (json_dumpf(set, stdout, JSON_INDENT(2)) || puts("") == EOF ||
	    fflush(stdout))
		goto out;
	rc = 0;
out:
	json_decref(keys);
	json_decref(set);
	return rc;
}

/* The public JWK of a private key file, without kid or use. */
static json_t *public_jwk(const char *path)
{
	EVP_PKEY *k = load_key(path, true);
	json_t *jwk = k ? jwk_of(k, "x") : NULL;

	EVP_PKEY_free(k);
	if (jwk) {
		json_object_del(jwk, "kid");
		json_object_del(jwk, "use");
	}
	return jwk;
}

/* RFC 7638 §3: SHA-256 of the required members, sorted, no spaces. */
static char *thumbprint(const json_t *jwk)
{
	static const char *const members[] = {"crv", "e", "kty", "n", "x",
					      "y", NULL};
	json_t *req = json_object();
	char *text = NULL, *out = NULL;
	unsigned char md[32];

	for (size_t i = 0; req && members[i]; i++) {
		json_t *v = json_object_get(jwk, members[i]);
		if (v)
			json_object_set(req, members[i], v);
	}
	if (req && (text = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS)) &&
	    EVP_Q_digest(NULL, "SHA256", NULL, text, strlen(text), md, NULL))
		out = b64url(md, sizeof(md));
	free(text);
	json_decref(req);
	return out;
}

static int cmd_jkt(int argc, char **argv)
{
	if (argc != 3)
		return usage();
	json_t *jwk = public_jwk(argv[2]);
	char *t = jwk ? thumbprint(jwk) : NULL;
	int rc = t && puts(t) != EOF && !fflush(stdout) ? 0 : die("no key");

	free(t);
	json_decref(jwk);
	return rc;
}

static int one_proof(const char *key, const struct alg *a, const char *htm,
		     const char *htu, const char *token, const char *iat,
		     const char *jti, const char *extra);

static int cmd_dpop(int argc, char **argv)
{
	const char *key = NULL, *alg = NULL, *htm = NULL, *htu = NULL,
		   *token = NULL, *iat = NULL, *jti = NULL, *extra = NULL,
		   *count = NULL;
	char jti_buf[33];
	unsigned char rnd[16];

	for (int i = 2; i < argc; i += 2) {
		const char **to = NULL;
		if (i + 1 >= argc)
			return usage();
		if (!strcmp(argv[i], "--key"))
			to = &key;
		else if (!strcmp(argv[i], "--alg"))
			to = &alg;
		else if (!strcmp(argv[i], "--htm"))
			to = &htm;
		else if (!strcmp(argv[i], "--htu"))
			to = &htu;
		else if (!strcmp(argv[i], "--token"))
			to = &token;
		else if (!strcmp(argv[i], "--iat"))
			to = &iat;
		else if (!strcmp(argv[i], "--jti"))
			to = &jti;
		else if (!strcmp(argv[i], "--header"))
			to = &extra;
		else if (!strcmp(argv[i], "--count"))
			to = &count;
		else
			return usage();
		*to = argv[i + 1];
	}
	if (!key || !alg || !htm || !htu)
		return usage();
	const struct alg *a = NULL;
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (!strcmp(algs[i].name, alg))
			a = &algs[i];
	if (!a || a->kind == 'H')
		return die("--alg must be an asymmetric algorithm");
	long n = count ? strtol(count, NULL, 10) : 1;
	if (n < 1 || (n > 1 && jti))
		return usage();
	for (long k = 0; k < n; k++) {
		const char *this_jti = jti;
		if (!this_jti) {
			if (RAND_bytes(rnd, sizeof(rnd)) != 1)
				return die("no randomness");
			for (size_t i = 0; i < sizeof(rnd); i++)
				snprintf(jti_buf + 2 * i, 3, "%02x", rnd[i]);
			this_jti = jti_buf;
		}
		int rc = one_proof(key, a, htm, htu, token, iat, this_jti,
				   extra);
		if (rc)
			return rc;
	}
	return 0;
}

static int one_proof(const char *key, const struct alg *a, const char *htm,
		     const char *htu, const char *token, const char *iat,
		     const char *jti, const char *extra)
{
	const char *alg = a->name;
	unsigned char md[32];
	json_t *jwk = public_jwk(key);
	json_t *hdr = jwk ? make_header(alg, NULL, NULL) : NULL;
	json_t *pl = json_object(), *x = NULL;
	int rc = 1;
	char *ath = NULL, *payload = NULL;

	if (!hdr || !pl || json_object_set_new(hdr, "typ",
					       json_string("dpop+jwt")) ||
	    json_object_set(hdr, "jwk", jwk))
		goto out;
	if (extra && (!(x = json_loads(extra, 0, NULL)) ||
		      json_object_update(hdr, x)))
		goto out;
	if (token &&
	    (!EVP_Q_digest(NULL, "SHA256", NULL, token, strlen(token), md,
			   NULL) ||
	     !(ath = b64url(md, sizeof(md)))))
		goto out;
	if (json_object_set_new(pl, "jti", json_string(jti)) ||
	    json_object_set_new(pl, "htm", json_string(htm)) ||
	    json_object_set_new(pl, "htu", json_string(htu)) ||
	    json_object_set_new(pl, "iat",
				json_integer(iat ? strtoll(iat, NULL, 10)
						 : (long long)time(NULL))) ||
	    (ath && json_object_set_new(pl, "ath", json_string(ath))) ||
	    !(payload = json_dumps(pl, JSON_COMPACT)))
		goto out;
	rc = emit(hdr, (unsigned char *)payload, strlen(payload), a, key,
		  NULL);
out:
	if (rc)
		die("cannot make the proof");
	json_decref(x);
	json_decref(jwk);
	json_decref(hdr);
	json_decref(pl);
	free(ath);
	free(payload);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "sign"))
		return cmd_sign(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "jwks"))
		return cmd_jwks(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "jkt"))
		return cmd_jkt(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "dpop"))
		return cmd_dpop(argc, argv);
	return usage();
}
