// Static functions whose result clang knows: clang makes them return
// without setting r0 and has each caller set the known value itself. The
// kernel checks r0 only at the program's exit, a subprogram's r0 becoming
// its caller's as it is, so it accepts these; so must cranebpf, with the
// same verdicts and packets. (Found on the shape of the kernel's own
// test_xdp_noinline.c, which cranebpf refused.)
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u32 seen[4];

// Swaps the Ethernet addresses; always XDP_TX.
static __attribute__((noinline)) int bounce(unsigned char *data, unsigned char *end)
{
    unsigned char tmp[6];
    if (data + 14 > end)
        return XDP_TX;
    __builtin_memcpy(tmp, data, 6);
    __builtin_memcpy(data, data + 6, 6);
    __builtin_memcpy(data + 6, tmp, 6);
    seen[0]++;
    return XDP_TX;
}

// Counts a frame by its first byte's low bits; always 0.
static __attribute__((noinline)) int count(unsigned char *data, unsigned char *end)
{
    if (data + 1 > end)
        return 0;
    seen[1 + (data[0] & 1)]++;
    return 0;
}

SEC("xdp")
int entry(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    int r = count(data, end);
    seen[3] += r;
    if (data + 14 > end)
        return XDP_DROP;
    // ARP frames are sent back; the rest pass.
    if (data[12] == 0x08 && data[13] == 0x06)
        return bounce(data, end);
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
