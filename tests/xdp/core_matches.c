// `bpf_core_type_matches` (CO-RE relocation kind 12, clang 15 and later)
// resolved against the running kernel's BTF, as libbpf resolves it: local
// types declared as matching or not matching the kernel's under its
// rules (members by name, in any order and any subset; integers by size
// and sign; kinds; enumerators; arrays; pointers; typedefs), each result
// written to a map (cli/tests/xdp_objects.rs builds it with clang-19).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "core_results.h"

struct xdp_md___same {
    __u32 data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex;
};
struct xdp_md___subset { __u32 rx_queue_index; __u32 data; };
struct xdp_md___wider { __u64 data; };
struct xdp_md___signed { int data; };
struct xdp_md___extra { __u32 data; __u32 cranebpf_extra; };
union xdp_md___union { __u32 data; };
struct cranebpf_none___m { int x; };
enum xdp_action___m { XDP_DROP___m = 1, XDP_PASS___m = 2 };
enum xdp_action___values { XDP_ABORTED___values = 7 };
enum xdp_action___bad { XDP_CRANEBPF___bad = 1 };
typedef unsigned int __u32___m;
typedef long __u32___bad;
struct net_device;
struct sk_buff___ptr { struct net_device *dev; unsigned int len; };
struct sk_buff___cb { char cb[48]; };
struct sk_buff___cb47 { char cb[47]; };
struct sk_buff___cbint { int cb[12]; };
struct list_head___m { struct list_head *next, *prev; };
struct list_head___self { struct list_head___self *next; };
struct list_head___int { long next; };
struct callback_head___m {
    struct callback_head___m *next;
    void (*func)(struct callback_head___m *head);
};
struct callback_head___args { void (*func)(int head); };
struct in6_addr___m { union { __u8 u6_addr8[16]; } in6_u; };
struct in6_addr___short { union { __u8 u6_addr8[15]; } in6_u; };
struct task_struct___comm { char comm[16]; };

SEC("xdp")
int core(struct xdp_md *ctx)
{
    put(0, bpf_core_type_matches(struct xdp_md___same));
    put(1, bpf_core_type_matches(struct xdp_md___subset));
    put(2, bpf_core_type_matches(struct xdp_md___wider));
    put(3, bpf_core_type_matches(struct xdp_md___signed));
    put(4, bpf_core_type_matches(struct xdp_md___extra));
    put(5, bpf_core_type_matches(union xdp_md___union));
    put(6, bpf_core_type_matches(struct cranebpf_none___m));
    put(7, bpf_core_type_matches(enum xdp_action___m));
    put(8, bpf_core_type_matches(enum xdp_action___values));
    put(9, bpf_core_type_matches(enum xdp_action___bad));
    put(10, bpf_core_type_matches(__u32___m));
    put(11, bpf_core_type_matches(__u32___bad));
    put(12, bpf_core_type_matches(struct sk_buff___ptr));
    put(13, bpf_core_type_matches(struct sk_buff___cb));
    put(14, bpf_core_type_matches(struct sk_buff___cb47));
    put(15, bpf_core_type_matches(struct sk_buff___cbint));
    put(16, bpf_core_type_exists(struct xdp_md___wider));
    put(17, bpf_core_type_matches(struct list_head___m));
    put(18, bpf_core_type_matches(struct list_head___self));
    put(19, bpf_core_type_matches(struct list_head___int));
    put(20, bpf_core_type_matches(struct callback_head___m));
    put(21, bpf_core_type_matches(struct callback_head___args));
    put(22, bpf_core_type_matches(struct in6_addr___m));
    put(23, bpf_core_type_matches(struct in6_addr___short));
    put(24, bpf_core_type_matches(struct task_struct___comm));
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
