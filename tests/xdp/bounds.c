// Packet pointers moved by numbers the kernel bounds in ways the
// verifier here follows only in part: a signed comparison of 8 bytes, an
// unsigned bound on 8 bytes read whole, clang's zero-extension of a
// 32-bit number with a mask, known bits; and map values (a lookup's,
// .bss) indexed by numbers bounded by comparisons and masks, a
// sign-extended byte checked both ways, an absolute value; and memory
// given to helpers (a bounded size, packet bytes where allowed), a stack
// buffer indexed by bounded numbers. The kernel
// accepts each; so must cranebpf (what it cannot follow is checked at run
// time, never refused), with the same verdicts and maps.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct slots {
    __u32 slot[8];
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct slots);
} table SEC(".maps");

__u32 seen[4];
__u32 csums[3];

SEC("xdp")
int entry(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 22 > end)
        return XDP_PASS;
    __u32 sum = 0;
    unsigned char *p;
    __s64 s = *(__s64 *)(data + 14);
    if (s >= 0 && s <= 40) {
        p = data + s;
        if (p + 1 <= end)
            sum += *p;
    }
    __u64 u = *(__u64 *)(data + 6);
    if (u < 1000) {
        p = data + u;
        if (p + 1 <= end)
            sum += *p;
    }
    __u32 w = *(__u32 *)(data + 10);
    p = data + (w & 0x3f);
    if (p + 1 <= end)
        sum += *p;
    __u64 j = *(__u64 *)(data + 14);
    if (!(j & 0xffffffffffffffc0ULL)) {
        p = data + j;
        if (p + 1 <= end)
            sum += *p;
    }
    // (Read only where every random offset is in the packet, so the
    // verdict does not depend on the number drawn.)
    if (data + 270 <= end) {
        p = data + (bpf_get_prandom_u32() & 0xff) + 14;
        if (p + 1 <= end)
            sum += (*p | 1) & 1;
    }
    __u32 k = 0;
    struct slots *v = bpf_map_lookup_elem(&table, &k);
    if (v) {
        __u32 i = data[20];
        if (i < 8)
            v->slot[i]++;
        v->slot[data[21] & 7] += 2;
        signed char c = data[18];
        if (c >= 0 && c < 8)
            v->slot[c] += 3;
#ifndef BPF_CPU_V3
        // (For v3 clang computes the absolute value in 32 bits and checks
        // a copy the kernel cannot relate to the index: both refuse that,
        // unchecked.c's absolute_index.)
        long d = (signed char)data[19];
        if (d < 0)
            d = -d;
        if (d < 8)
            v->slot[d] += 4;
#endif
        for (int n = 0; n < 8; n++)
            sum += v->slot[n];
    }
    // Memory given to helpers: a size from the packet within the
    // buffer, packet bytes as a checksum's input and as a key.
    // A stack buffer indexed by bounded numbers.
    volatile char slots[16] = {};
    slots[data[0] & 15] = 1;
    sum += slots[data[1] & 15];
    char buf[64];
    if (bpf_xdp_load_bytes(ctx, 0, buf, (data[0] & 63) + 1) == 0)
        sum += buf[0] & 1;
    sum += bpf_csum_diff((void *)data, 8, 0, 0, 0) & 1;
    // (The checksums themselves, compared with the kernel's in the map.)
    __u32 seed = *(__u32 *)(data + 16);
    csums[0] += bpf_csum_diff((void *)data, 8, (void *)(data + 8), 8, 0);
    csums[1] += bpf_csum_diff(0, 0, (void *)data, 12, seed);
    csums[2] += bpf_csum_diff((void *)data, 12, 0, 0, seed);
    if (bpf_map_lookup_elem(&table, data + 12))
        sum++;
    __u32 g = data[19];
    if (g < 4)
        seen[g]++;
    return sum & 1 ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
