// SPDX-License-Identifier: Apache-2.0
/*
 * The smallest XDP program: passes every frame. Only `npm run bench:xdp` loads it, to tell the
 * cost of running any XDP program on an interface from the cost of xdp_filter's own work.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Apache-2.0";
