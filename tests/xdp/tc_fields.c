// A TC classifier that records every __sk_buff field it may read (whole
// and narrow loads) per packet in a hash map keyed by those values, writes
// the fields TC may write (mark, priority, cb[]) and reads them back, copies
// bytes with bpf_skb_load_bytes (inside and past the packet), rewrites the
// IPv4 TTL through direct packet access, and drops UDP (TC_ACT_SHOT).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct fields {
    __u32 len, pkt_type, mark, queue_mapping, protocol, vlan_present, vlan_tci, vlan_proto;
    __u32 priority, ingress_ifindex, ifindex, tc_index, cb1, hash, tc_classid, napi_id;
    __u32 wire_len, gso_segs, gso_size, data_len, proto_byte, mark_after;
    __u32 loaded, load_past;
    __u64 tstamp;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, struct fields);
    __type(value, __u64);
} seen SEC(".maps");

SEC("tc")
int fields(struct __sk_buff *skb)
{
    struct fields f = {};
    f.len = skb->len;
    f.pkt_type = skb->pkt_type;
    f.mark = skb->mark;
    f.queue_mapping = skb->queue_mapping;
    f.protocol = skb->protocol;
    f.vlan_present = skb->vlan_present;
    f.vlan_tci = skb->vlan_tci;
    f.vlan_proto = skb->vlan_proto;
    f.priority = skb->priority;
    f.ingress_ifindex = skb->ingress_ifindex;
    f.ifindex = skb->ifindex;
    f.tc_index = skb->tc_index;
    f.hash = skb->hash;
    f.tc_classid = skb->tc_classid;
    f.napi_id = skb->napi_id;
    f.wire_len = skb->wire_len;
    f.gso_segs = skb->gso_segs;
    f.gso_size = skb->gso_size;
    f.tstamp = skb->tstamp;
    f.proto_byte = *(volatile __u8 *)((void *)skb + offsetof(struct __sk_buff, protocol) + 1);
    f.data_len = skb->data_end - skb->data;
    skb->mark = 0x1234;
    skb->priority = 3;
    skb->cb[1] = skb->len + 1;
    f.mark_after = skb->mark;
    f.cb1 = skb->cb[1];
    __u32 word = 0;
    if (bpf_skb_load_bytes(skb, 12, &word, 4) == 0)
        f.loaded = word;
    word = 0x55555555;
    f.load_past = bpf_skb_load_bytes(skb, skb->len - 2, &word, 4);
    f.load_past ^= word;
    __u64 one = 1;
    __u64 *n = bpf_map_lookup_elem(&seen, &f);
    if (n)
        __sync_fetch_and_add(n, 1);
    else
        bpf_map_update_elem(&seen, &f, &one, BPF_ANY);

    void *data = (void *)(long)skb->data;
    void *end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
        return TC_ACT_OK;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end)
        return TC_ACT_OK;
    if (ip->protocol == IPPROTO_UDP)
        return TC_ACT_SHOT;
    ip->ttl = 1;
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
