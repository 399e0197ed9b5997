// Comparisons the kernel decides from constants it knows, or from a
// number's bounds or known bits: it explores only the side they give (its
// is_branch_taken), so accesses on the other side are never checked and
// must not be refused here; and an offset that is a different constant on
// each path, each path proving what it reads. The asm statements hide the
// constants from clang only (it would fold the tests), not from the
// kernel. The kernel accepts the program; so must cranebpf, with the same
// verdicts.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u32 taken[8];

SEC("xdp")
int entry(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    unsigned char *end = (void *)(long)ctx->data_end;
    if (data + 34 > end)
        return XDP_PASS;
    __u32 sum = 0;
    // `off == 14` never holds: the read past the 34 checked bytes on that
    // side is not the kernel's concern.
    unsigned long off = 18;
    asm volatile("" : "+r"(off));
    unsigned char *q = data + off;
    asm volatile("" : "+r"(q));
    if (off == 14) {
        sum += *(__u32 *)(q + 16);
        taken[0]++;
    } else {
        sum += q[15];
        taken[1]++;
    }
    // The same with a 32-bit comparison and a register holding the
    // other constant.
    __u32 small = 7, big = 9;
    asm volatile("" : "+r"(small), "+r"(big));
    if (small > big) {
        sum += *(__u32 *)(data + 32);
        taken[2]++;
    } else {
        sum += data[small];
        taken[3]++;
    }
    // A number the kernel bounds below 16 (a masked byte): the side where
    // it exceeds 20 is never explored, decided by its bounds.
    unsigned long x = data[0] & 0xf;
    asm volatile("" : "+r"(x));
    unsigned char *r = data + 18;
    asm volatile("" : "+r"(r));
    if (x > 20) {
        sum += *(__u32 *)(r + 16);
        taken[4]++;
    } else {
        sum += r[15];
        taken[5]++;
    }
    // Its known bits decide too: bit 4 of a byte masked with 0xf is
    // never set.
    if (x & 16) {
        sum += *(__u32 *)(r + 16);
        taken[6]++;
    } else {
        sum += r[14];
        taken[7]++;
    }
    // Each path proves what it reads (VLAN frames 38 bytes, others 34):
    // followed path by path, nothing is left unproven.
    unsigned long nh = 14;
    if (data[12] == 0x81) {
        nh = 18;
        if (data + 38 > end)
            return XDP_DROP;
    }
    asm volatile("" : "+r"(nh));
    unsigned char *ip = data + nh;
    asm volatile("" : "+r"(ip));
    sum += *(__u32 *)(ip + 16);
    return sum & 1 ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
