// A TC classifier the kernel refuses after two legacy packet loads (clang's
// load_byte: LD_ABS): it dereferences a number read from the context. Each
// legacy load expands into several instructions here, so the refusal must
// be named at the kernel's slot, not the expanded program's.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");

SEC("tc")
int cls(struct __sk_buff *skb)
{
    int a = load_byte(skb, 12);
    int b = load_byte(skb, 13);
    if (a == 8 && b == 0)
        return *(volatile int *)(long)skb->mark;
    return 0;
}

char _license[] SEC("license") = "GPL";
