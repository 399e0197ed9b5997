// Calls to helpers this runtime does not serve (ids past any kernel's:
// 999 and 998), each in a branch that is dead where the program is
// loaded, as programs built for several kernels guard newer helpers: one
// behind a `const volatile` setting in `.rodata` (libbpf freezes it, so
// the verifier knows it), one behind a CO-RE test that the kernel's
// `enum bpf_func_id` has the helper. The kernel refuses such a call only
// where a path reaches it, and so must we (cli/tests/xdp_objects.rs).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

enum bpf_func_id___future {
    BPF_FUNC_cranebpf_future___future = 998,
};

const volatile int use_future = 0;

static long (*bpf_from_the_future)(void) = (void *)999;
static long (*bpf_from_another_future)(void) = (void *)998;

SEC("xdp")
int entry(struct xdp_md *ctx)
{
    if (use_future)
        return bpf_from_the_future();
    if (bpf_core_enum_value_exists(enum bpf_func_id___future,
                                   BPF_FUNC_cranebpf_future___future))
        return bpf_from_another_future();
    return ctx->data_end - ctx->data > 60 ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
