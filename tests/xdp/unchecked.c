// Programs the kernel's verifier refuses for packet reads no comparison
// with data_end proves; cranebpf must refuse each with the same reason.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

// No check at all.
SEC("xdp")
int no_check(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    return data[12] == 8 ? XDP_PASS : XDP_DROP;
}

// Checks 14 bytes, reads byte 23.
SEC("xdp")
int short_check(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 14 > end)
        return XDP_DROP;
    return data[23] == 6 ? XDP_PASS : XDP_DROP;
}

// Checks on one path only.
SEC("xdp")
int one_path(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (ctx->ingress_ifindex == 7 && data + 40 > end)
        return XDP_DROP;
    return data[30];
}

char LICENSE[] SEC("license") = "GPL";
