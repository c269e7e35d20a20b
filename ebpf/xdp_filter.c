// SPDX-License-Identifier: Apache-2.0
/*
 * x0tta6bl4 XDP filter: drops frames from quarantined sources and caps rate-limited ones,
 * on the interface it is attached to. The edge adapter (adapters/xdp) loads it with bpftool,
 * pins its maps under /sys/fs/bpf/x0tta6bl4/<iface>/ and applies healing commands by
 * updating those maps; the program itself holds no policy.
 *
 * Matching, in order (the first rule that drops wins):
 *   1. block_mac  exact source MAC (a batman-adv neighbour's hard interface)
 *   2. block_v4 / block_v6  longest IPv4 / IPv6 source prefix
 *   3. rate_mac, then rate_v4 / rate_v6  token bucket of the matching rule
 * Frames that are neither IPv4 nor IPv6 (ARP, batman-adv 0x4305, ...) are matched by MAC only.
 * Up to two VLAN tags (802.1Q, 802.1ad) are skipped to find the IP header.
 *
 * A rule map is looked up only once `active_rules` marks it used: the adapter sets the mark
 * before its first rule goes in and never clears it, so a node without rules touches one cache
 * line instead of six maps per frame.
 *
 * Map layouts are a contract with adapters/xdp/maps.ts; change both together.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_RULES 4096
#define NSEC_PER_SEC 1000000000ULL
/* Bounded retries of the lock-free bucket update; only concurrent CPUs on one rule retry. */
#define RATE_CAS_TRIES 4

struct mac_key {
	__u8 addr[ETH_ALEN];
};

/* LPM trie keys: prefix length in host byte order, then the address in network order. */
struct v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* A quarantine rule. Hit times are bpf_ktime_get_ns() (CLOCK_MONOTONIC): they show when the
 * rule first took effect and whether the source is still sending. */
struct block_entry {
	__u64 hits;
	__u64 first_hit_ns;
	__u64 last_hit_ns;
};

/*
 * A rate-limit rule: a token bucket of `burst` packets refilled at `pps`, kept as a GCRA
 * "theoretical arrival time" so one 64-bit compare-and-swap updates it without a lock (LPM
 * trie values cannot hold a bpf_spin_lock). A prefix rule is one bucket for the whole prefix.
 */
struct rate_entry {
	__u64 pps;
	__u64 burst;
	__u64 tat_ns;
	__u64 passed;
	__u64 dropped;
};

/* Per-CPU verdict counters, indexed by enum verdict. */
struct verdict_count {
	__u64 packets;
	__u64 bytes;
};

/* Index of each rule map in `active_rules`. */
enum rule_map {
	ACTIVE_BLOCK_MAC = 0,
	ACTIVE_BLOCK_V4 = 1,
	ACTIVE_BLOCK_V6 = 2,
	ACTIVE_RATE_MAC = 3,
	ACTIVE_RATE_V4 = 4,
	ACTIVE_RATE_V6 = 5,
	ACTIVE_MAX,
};

enum verdict {
	VERDICT_PASSED = 0,
	VERDICT_DROPPED_BLOCK = 1,
	VERDICT_DROPPED_RATE = 2,
	VERDICT_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_RULES);
	__type(key, struct mac_key);
	__type(value, struct block_entry);
} block_mac SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct v4_key);
	__type(value, struct block_entry);
} block_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct v6_key);
	__type(value, struct block_entry);
} block_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_RULES);
	__type(key, struct mac_key);
	__type(value, struct rate_entry);
} rate_mac SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct v4_key);
	__type(value, struct rate_entry);
} rate_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct v6_key);
	__type(value, struct rate_entry);
} rate_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VERDICT_MAX);
	__type(key, __u32);
	__type(value, struct verdict_count);
} verdicts SEC(".maps");

/* Non-zero once the rule map at that index may hold rules (an array lookup is inlined: no call). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ACTIVE_MAX);
	__type(key, __u32);
	__type(value, __u32);
} active_rules SEC(".maps");

struct vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

static __always_inline int count(enum verdict verdict, __u64 bytes, int action)
{
	__u32 key = verdict;
	struct verdict_count *c = bpf_map_lookup_elem(&verdicts, &key);

	/* Per-CPU slot: no other CPU writes it, so plain increments are exact. */
	if (c) {
		c->packets += 1;
		c->bytes += bytes;
	}
	return action;
}

static __always_inline int active(enum rule_map map)
{
	__u32 key = map;
	__u32 *on = bpf_map_lookup_elem(&active_rules, &key);

	return on && *on;
}

static __always_inline int blocked(struct block_entry *b)
{
	if (!b)
		return 0;
	/* The clock is read only when a rule matches: most frames match none. */
	__u64 now = bpf_ktime_get_ns();
	__sync_fetch_and_add(&b->hits, 1);
	if (b->first_hit_ns == 0)
		__sync_val_compare_and_swap(&b->first_hit_ns, 0, now);
	b->last_hit_ns = now;
	return 1;
}

/* 1 when the packet conforms to the rule's bucket (and takes its token), 0 when it must drop. */
static __always_inline int conforms(struct rate_entry *r)
{
	__u64 pps = r->pps;
	if (pps == 0)
		return 1;
	__u64 now = bpf_ktime_get_ns();
	__u64 interval = NSEC_PER_SEC / pps;
	/* A full bucket lets `burst` back-to-back packets through. */
	__u64 limit = r->burst * interval;

#pragma unroll
	for (int i = 0; i < RATE_CAS_TRIES; i++) {
		__u64 tat = *(volatile __u64 *)&r->tat_ns;
		__u64 next = (tat > now ? tat : now) + interval;
		if (next - now > limit) {
			__sync_fetch_and_add(&r->dropped, 1);
			return 0;
		}
		if (__sync_val_compare_and_swap(&r->tat_ns, tat, next) == tat) {
			__sync_fetch_and_add(&r->passed, 1);
			return 1;
		}
	}
	/* Lost every race to other CPUs on this rule: those took the tokens. */
	__sync_fetch_and_add(&r->dropped, 1);
	return 0;
}

SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 bytes = data_end - data;
	struct ethhdr *eth = data;

	/* Runt frames are the stack's business, not a policy decision. */
	if ((void *)(eth + 1) > data_end)
		return count(VERDICT_PASSED, bytes, XDP_PASS);

	struct mac_key mac = {};
	__builtin_memcpy(mac.addr, eth->h_source, ETH_ALEN);
	if (active(ACTIVE_BLOCK_MAC) && blocked(bpf_map_lookup_elem(&block_mac, &mac)))
		return count(VERDICT_DROPPED_BLOCK, bytes, XDP_DROP);

	__u16 proto = eth->h_proto;
	void *l3 = eth + 1;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_hdr *vlan = l3;
		if ((void *)(vlan + 1) > data_end)
			return count(VERDICT_PASSED, bytes, XDP_PASS);
		proto = vlan->encapsulated_proto;
		l3 = vlan + 1;
	}

	struct v4_key v4 = {};
	struct v6_key v6 = {};
	int family = 0;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		if ((void *)(ip + 1) > data_end)
			return count(VERDICT_PASSED, bytes, XDP_PASS);
		v4.prefixlen = 32;
		__builtin_memcpy(v4.addr, &ip->saddr, 4);
		family = 4;
		if (active(ACTIVE_BLOCK_V4) && blocked(bpf_map_lookup_elem(&block_v4, &v4)))
			return count(VERDICT_DROPPED_BLOCK, bytes, XDP_DROP);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > data_end)
			return count(VERDICT_PASSED, bytes, XDP_PASS);
		v6.prefixlen = 128;
		__builtin_memcpy(v6.addr, &ip6->saddr, 16);
		family = 6;
		if (active(ACTIVE_BLOCK_V6) && blocked(bpf_map_lookup_elem(&block_v6, &v6)))
			return count(VERDICT_DROPPED_BLOCK, bytes, XDP_DROP);
	}

	struct rate_entry *rate = 0;
	if (active(ACTIVE_RATE_MAC)) {
		rate = bpf_map_lookup_elem(&rate_mac, &mac);
		if (rate && !conforms(rate))
			return count(VERDICT_DROPPED_RATE, bytes, XDP_DROP);
	}
	if (family == 4 && active(ACTIVE_RATE_V4))
		rate = bpf_map_lookup_elem(&rate_v4, &v4);
	else if (family == 6 && active(ACTIVE_RATE_V6))
		rate = bpf_map_lookup_elem(&rate_v6, &v6);
	else
		rate = 0;
	if (rate && !conforms(rate))
		return count(VERDICT_DROPPED_RATE, bytes, XDP_DROP);

	return count(VERDICT_PASSED, bytes, XDP_PASS);
}

char LICENSE[] SEC("license") = "Apache-2.0";
