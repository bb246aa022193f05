/*
 * SipHash (Aumasson and Bernstein, 2012): a keyed hash for tables whose
 * keys come from outside, so that nobody who does not know the key can aim
 * entries at one bucket.  SipHash-c-d with c compression and d
 * finalisation rounds; the constants are meant to be fixed at the call, so
 * that the compiler unrolls them: 2-4 is the reference, 1-3 the faster
 * variant for high-rate tables.
 */
#ifndef AG_SIPHASH_H
#define AG_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define AG_SIP_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static inline void ag_sip_round(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = AG_SIP_ROTL(v[1], 13);
	v[1] ^= v[0];
	v[0] = AG_SIP_ROTL(v[0], 32);
	v[2] += v[3];
	v[3] = AG_SIP_ROTL(v[3], 16);
	v[3] ^= v[2];
	v[0] += v[3];
	v[3] = AG_SIP_ROTL(v[3], 21);
	v[3] ^= v[0];
	v[2] += v[1];
	v[1] = AG_SIP_ROTL(v[1], 17);
	v[1] ^= v[2];
	v[2] = AG_SIP_ROTL(v[2], 32);
}

/* SipHash-c-d of in[0..len) under key (two little-endian words). */
static inline uint64_t ag_siphash(const uint64_t key[2], const void *in,
				  size_t len, unsigned c, unsigned d)
{
	const unsigned char *p = in;
	uint64_t v[4] = {0x736f6d6570736575ULL ^ key[0],
			 0x646f72616e646f6dULL ^ key[1],
			 0x6c7967656e657261ULL ^ key[0],
			 0x7465646279746573ULL ^ key[1]};
	uint64_t b = (uint64_t)len << 56;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t m = 0;
		for (unsigned k = 0; k < 8; k++)
			m |= (uint64_t)p[i + k] << (8 * k);
		v[3] ^= m;
		for (unsigned r = 0; r < c; r++)
			ag_sip_round(v);
		v[0] ^= m;
	}
	for (unsigned k = 0; i + k < len; k++)
		b |= (uint64_t)p[i + k] << (8 * k);
	v[3] ^= b;
	for (unsigned r = 0; r < c; r++)
		ag_sip_round(v);
	v[0] ^= b;
	v[2] ^= 0xff;
	for (unsigned r = 0; r < d; r++)
		ag_sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

#endif
