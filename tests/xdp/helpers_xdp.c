// XDP helpers beyond the packet pointers: the frame's length
// (bpf_xdp_get_buff_len), bytes read and written through
// bpf_xdp_load_bytes/_store_bytes (the MAC addresses swapped; reads past
// the end, offsets over 0xffff), the NUMA node, and the clocks (only that
// they run forwards: their values differ from the kernel's). Every result
// is summed into `results`.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 10);
    __type(key, __u32);
    __type(value, __u64);
} results SEC(".maps");

static __always_inline void add(__u32 i, __u64 v)
{
    __u64 *n = bpf_map_lookup_elem(&results, &i);
    if (n)
        *n += v;
}

SEC("xdp")
int entry(struct xdp_md *ctx)
{
    __u64 len = bpf_xdp_get_buff_len(ctx);
    add(0, len);
    __u8 buf[16] = {};
    long r = bpf_xdp_load_bytes(ctx, 6, buf, sizeof(buf));
    add(1, -r);
    add(2, buf[0] + buf[15]);
    add(3, -bpf_xdp_load_bytes(ctx, 0x10000, buf, 4));
    __u8 mac[12];
    if (bpf_xdp_load_bytes(ctx, 0, mac, sizeof(mac)) == 0) {
        __u8 swapped[12];
        __builtin_memcpy(swapped, mac + 6, 6);
        __builtin_memcpy(swapped + 6, mac, 6);
        add(4, bpf_xdp_store_bytes(ctx, 0, swapped, sizeof(swapped)) == 0);
    }
    add(5, -bpf_xdp_store_bytes(ctx, len - 2, buf, 4));
    add(6, bpf_get_numa_node_id());
    __u64 t0 = bpf_ktime_get_boot_ns(), t1 = bpf_ktime_get_boot_ns();
    __u64 c0 = bpf_ktime_get_coarse_ns(), c1 = bpf_ktime_get_coarse_ns();
    __u64 a0 = bpf_ktime_get_tai_ns(), a1 = bpf_ktime_get_tai_ns();
    __u64 j0 = bpf_jiffies64(), j1 = bpf_jiffies64();
    add(7, (t1 >= t0) + (c1 >= c0) + (a1 >= a0) + (j1 >= j0));
    return len % 3 == 0 ? XDP_TX : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
