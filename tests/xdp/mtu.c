// bpf_check_mtu from an XDP program (mtu_common.h says what).
#include "mtu_common.h"

SEC("xdp")
int entry(struct xdp_md *ctx)
{
    __u32 len = ctx->data_end - ctx->data;
    CHECKS(ctx, len);
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
