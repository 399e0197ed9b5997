// bpf_redirect_map into each kind of target map: an entry present
// (XDP_REDIRECT), missing (the fallback action in the flags), past an
// array's end, an xskmap with no socket, devmap broadcast, flags a map
// type does not take (XDP_ABORTED); and a devmap lookup (a read-only
// value). The frame's length picks the case.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_DEVMAP);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, struct bpf_devmap_val);
} ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u32);
} named_ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_CPUMAP);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, struct bpf_cpumap_val);
} cpus SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u32);
} sockets SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} seen SEC(".maps");

SEC("xdp")
int entry(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    __u32 len = end - data;
    __u32 zero = 0, one = 1;
    switch (len % 11) {
    case 0:
        return bpf_redirect_map(&ports, 1, 0);
    case 1:
        return bpf_redirect_map(&ports, 2, XDP_PASS);
    case 2:
        return bpf_redirect_map(&ports, 9, XDP_DROP);
    case 3:
        return bpf_redirect_map(&named_ports, 7, 0);
    case 4:
        return bpf_redirect_map(&named_ports, 8, XDP_TX);
    case 5:
        return bpf_redirect_map(&cpus, 0, 0);
    case 6:
        return bpf_redirect_map(&cpus, 1, XDP_PASS);
    case 7:
        return bpf_redirect_map(&sockets, 0, XDP_PASS);
    case 8: {
        struct bpf_devmap_val *v = bpf_map_lookup_elem(&ports, &one);
        __u64 *n = bpf_map_lookup_elem(&seen, &zero);
        if (v && n)
            *n += v->ifindex;
        if (bpf_map_lookup_elem(&ports, &zero) == 0 && n)
            *n += 100;
        return bpf_redirect_map(&ports, 3, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS);
    }
    case 9:
        return bpf_redirect_map(&cpus, 0, BPF_F_BROADCAST);
    default: {
        // A redirect that succeeds, then one that fails: the fallback.
        long first = bpf_redirect_map(&ports, 1, 0);
        __u64 *n = bpf_map_lookup_elem(&seen, &one);
        if (n)
            *n += first;
        return bpf_redirect_map(&named_ports, 1, XDP_DROP);
    }
    }
}

char LICENSE[] SEC("license") = "GPL";
