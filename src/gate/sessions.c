/*
 * Session activity by (iss, sid), for the idle check of docs/gate.md step 5.
 *
 * Memory is fixed at creation: a set-associative table of 8-way buckets
 * split into locked shards.  A full bucket forgets its least recently
 * active session.  A forgotten session is judged from its auth_time,
 * which is never later than its real last activity, so forgetting can
 * only make the gate stricter.
 *
 * Keys are hashed with SipHash-2-4 under random keys chosen at start, so
 * that nobody can aim sessions at one bucket; a slot holds one 64-bit hash
 * to place the session and a second, independent one to recognise it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "aalgate/gate.h"
#include "gate/gate-int.h"
#include "siphash.h"
#include "util.h"
#include "banned.h"

#define WAYS 8
#define SHARDS 64

struct slot {
	uint64_t tag;  /* 0 = empty */
	int64_t last;
};

struct shard {
	pthread_mutex_t lock;
};

struct ag_sessions {
	uint64_t k0[2], k1[2]; /* SipHash keys: placement, tag */
	struct slot *slots;
	size_t nbuckets; /* a power of two */
	struct shard shards[SHARDS];
};

/* SipHash-2-4 of in[0..len). */
static uint64_t siphash(const uint64_t key[2], const uint8_t *in, size_t len)
{
	return ag_siphash(key, in, len, 2, 4);
}

struct ag_sessions *ag_sessions_new(size_t capacity)
{
	struct ag_sessions *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (getrandom(s->k0, sizeof(s->k0), 0) != sizeof(s->k0) ||
	    getrandom(s->k1, sizeof(s->k1), 0) != sizeof(s->k1)) {
		free(s);
		return NULL;
	}
	size_t nb = SHARDS;
	while (nb * WAYS < capacity && nb < ((size_t)1 << 26))
		nb <<= 1;
	s->nbuckets = nb;
	s->slots = calloc(nb * WAYS, sizeof(*s->slots));
	if (!s->slots) {
		free(s);
		return NULL;
	}
	for (size_t i = 0; i < SHARDS; i++)
		pthread_mutex_init(&s->shards[i].lock, NULL);
	return s;
}

void ag_sessions_free(struct ag_sessions *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < SHARDS; i++)
		pthread_mutex_destroy(&s->shards[i].lock);
	free(s->slots);
	free(s);
}

/* Hashes "iss\0sid" into a bucket index and a non-zero tag. */
static void key_of(const struct ag_sessions *s, const char *iss,
		   const char *sid, size_t *bucket, uint64_t *tag)
{
	uint8_t buf[1024];
	size_t il = iss ? strlen(iss) : 0, sl = strlen(sid);
	uint64_t h;

	if (il + 1 + sl <= sizeof(buf)) {
		if (il)
			memcpy(buf, iss, il);
		buf[il] = 0;
		memcpy(buf + il + 1, sid, sl);
		h = siphash(s->k0, buf, il + 1 + sl);
		*tag = siphash(s->k1, buf, il + 1 + sl);
	} else {
		/* Over-long keys: hash the parts and combine them. */
		uint64_t a[2] = {siphash(s->k0, (const uint8_t *)iss, il),
				 siphash(s->k0, (const uint8_t *)sid, sl)};
		uint64_t b[2] = {siphash(s->k1, (const uint8_t *)iss, il),
				 siphash(s->k1, (const uint8_t *)sid, sl)};
		h = siphash(s->k0, (const uint8_t *)a, sizeof(a));
		*tag = siphash(s->k1, (const uint8_t *)b, sizeof(b));
	}
	if (*tag == 0)
		*tag = 1;
	*bucket = (size_t)h & (s->nbuckets - 1);
}

bool ag_sessions_last(struct ag_sessions *s, const char *iss, const char *sid,
		      int64_t *out)
{
	size_t b;
	uint64_t tag;
	bool found = false;

	if (!s || !sid)
		return false;
	key_of(s, iss, sid, &b, &tag);
	struct shard *sh = &s->shards[b % SHARDS];
	struct slot *sl = &s->slots[b * WAYS];
	pthread_mutex_lock(&sh->lock);
	for (size_t i = 0; i < WAYS; i++)
		if (sl[i].tag == tag) {
			*out = sl[i].last;
			found = true;
			break;
		}
	pthread_mutex_unlock(&sh->lock);
	return found;
}

void ag_sessions_touch(struct ag_sessions *s, const char *iss, const char *sid,
		       int64_t now)
{
	size_t b;
	uint64_t tag;

	if (!s || !sid)
		return;
	key_of(s, iss, sid, &b, &tag);
	struct shard *sh = &s->shards[b % SHARDS];
	struct slot *sl = &s->slots[b * WAYS];
	pthread_mutex_lock(&sh->lock);
	size_t victim = 0;
	for (size_t i = 0; i < WAYS; i++) {
		if (sl[i].tag == tag) {
			if (now > sl[i].last)
				sl[i].last = now;
			goto out;
		}
		if (sl[i].tag == 0 ||
		    (sl[victim].tag != 0 && sl[i].last < sl[victim].last))
			victim = i;
	}
	sl[victim].tag = tag;
	sl[victim].last = now;
out:
	pthread_mutex_unlock(&sh->lock);
}
