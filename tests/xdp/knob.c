// A `const volatile` setting in `.rodata`, as libbpf programs are
// configured: libbpf sets it before loading and freezes the map, so the
// kernel's verifier knows its value and checks only the code it leaves
// reachable. Off (as built), the unchecked read of byte 100 is never
// explored: accepted by both. Set to 1 before loading, it is: refused by
// both (cli/tests/xdp_objects.rs).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile int deep_check = 0;
const volatile unsigned char marker = 7;

SEC("xdp")
int entry(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 14 > end)
        return XDP_PASS;
    if (deep_check)
        return data[100] == marker ? XDP_DROP : XDP_PASS;
    return data[13] == marker ? XDP_TX : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
