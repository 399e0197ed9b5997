// Perf event records from an XDP program (perf_common.h says what).
#include "perf_common.h"

SEC("xdp")
int entry(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    __u16 proto = 0;
    if (data + 14 <= end)
        proto = data[12] << 8 | data[13];
    report(ctx, end - data, proto, data + 1 <= end ? data[0] : 0xffff);
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
