/* Runs cranebpf-generated aarch64 code under qemu-aarch64.
 *
 * Binary protocol on stdin (little-endian), answers on stdout:
 *   'C' u32 n, n bytes      load code (replaces the previous code)      -> 'k'
 *   'L' u32 n, n bytes      the same for leaf code                       -> 'k'
 *   'B' u32 n, n bytes      the same for batch code                      -> 'k'
 *   'E' u32 n, n bytes      the same for code with a lean entry          -> 'k'
 *   'R' u32 m, m bytes mem, u32 p, p bytes packet (p = 0xffffffff: the
 *       packet is the memory), u64 budget                               -> 'r' u64 r0, u32 status, u32 pc
 *   'S' u32 m, m bytes mem, u32 k, then k times (u32 p, p bytes packet):
 *       batch code over the k packets                -> 'b' u64 done, k u32 verdicts
 *   'Q'                     quit
 * The context block mirrors cranebpf's RunCtx (src/jit/runtime.rs). Helper
 * calls and negative packet offsets are not served here: they end the run
 * with status 100, and the driver leaves such cases to the host engines.
 * Leaf code is entered as (packet, len, mem) and returns LEAF_HAND_OVER for
 * a hand-over, reported as status 6 (HAND_OVER). Batch code is entered as
 * (descs, k, verdicts, mem) and returns how many packets it finished.
 * Code with a lean entry is entered as (mem, len) and returns (value,
 * error) in x0 and x1 (jit::runtime::lean): r0, or the packed error; its
 * stack is its own. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct run_ctx {
    uint64_t mem_lo, mem_len, stack_lo, stack_hi, budget_left;
    uint32_t status, err_pc;
    uint64_t err_addr, err_info, env, helper_trampoline, negative_load;
};

#define NO_CALLBACK 100

static uint64_t no_helper(struct run_ctx *ctx, uint64_t id, uint64_t a, uint64_t b,
                          uint64_t c, uint64_t d, uint64_t e) {
    (void)id; (void)a; (void)b; (void)c; (void)d; (void)e;
    ctx->status = NO_CALLBACK;
    return 0;
}

static int64_t no_negative_load(struct run_ctx *ctx, uint64_t p, uint64_t l, int64_t o, uint64_t s) {
    (void)p; (void)l; (void)o; (void)s;
    ctx->status = NO_CALLBACK;
    return -1; /* ends the run; the entry function leaves the status as is */
}

#define LEAF_HAND_OVER (1ull << 32)
#define HAND_OVER 6

typedef uint64_t (*entry_fn)(uint64_t packet, uint64_t len, void *ctx_or_mem);
typedef struct { uint64_t value, error; } lean_return;
typedef lean_return (*lean_fn)(uint64_t mem, uint64_t len);
typedef uint64_t (*batch_fn)(const uint64_t *descs, uint64_t n, uint32_t *verdicts, void *mem);

static void read_exact(void *buf, size_t n) {
    if (n && fread(buf, 1, n, stdin) != n) exit(2);
}

static uint32_t read_u32(void) { uint32_t v; read_exact(&v, 4); return v; }
static uint64_t read_u64(void) { uint64_t v; read_exact(&v, 8); return v; }

int main(void) {
    void *code = NULL;
    size_t code_len = 0;
    int leaf = 0, lean = 0;
    static uint8_t stack[512 * 8];
    uint8_t *mem = malloc(1), *pkt = malloc(1);
    size_t mem_cap = 1, pkt_cap = 1;
    for (;;) {
        int cmd = getchar();
        if (cmd == EOF || cmd == 'Q') return 0;
        if (cmd == 'C' || cmd == 'L' || cmd == 'B' || cmd == 'E') {
            leaf = cmd == 'L';
            lean = cmd == 'E';
            uint32_t n = read_u32();
            if (code) munmap(code, code_len);
            code_len = n ? n : 1;
            code = mmap(NULL, code_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (code == MAP_FAILED) return 3;
            read_exact(code, n);
            if (mprotect(code, code_len, PROT_READ | PROT_EXEC)) return 4;
            __builtin___clear_cache((char *)code, (char *)code + code_len);
            putchar('k');
            fflush(stdout);
        } else if (cmd == 'R') {
            uint32_t m = read_u32();
            if (m + 1 > mem_cap) { mem_cap = m + 1; mem = realloc(mem, mem_cap); }
            read_exact(mem, m);
            uint32_t p = read_u32();
            const uint8_t *packet = mem;
            uint64_t packet_len = m;
            if (p != 0xffffffffu) {
                if (p + 1 > pkt_cap) { pkt_cap = p + 1; pkt = realloc(pkt, pkt_cap); }
                read_exact(pkt, p);
                packet = pkt;
                packet_len = p;
            }
            uint64_t budget = read_u64();
            memset(stack, 0, sizeof stack);
            struct run_ctx ctx = {
                .mem_lo = (uint64_t)(uintptr_t)mem, .mem_len = m,
                .stack_lo = (uint64_t)(uintptr_t)stack,
                .stack_hi = (uint64_t)(uintptr_t)(stack + sizeof stack),
                .budget_left = budget,
                .helper_trampoline = (uint64_t)(uintptr_t)no_helper,
                .negative_load = (uint64_t)(uintptr_t)no_negative_load,
            };
            entry_fn f = (entry_fn)code;
            uint64_t r0;
            if (lean) {
                lean_return ret = ((lean_fn)code)((uint64_t)(uintptr_t)mem, m);
                r0 = ret.error ? 0 : ret.value;
                ctx.status = (uint32_t)(ret.error & 0xff);
                ctx.err_pc = (uint32_t)(ret.error >> 32);
            } else if (leaf) {
                r0 = f((uint64_t)(uintptr_t)packet, packet_len, mem);
                if (r0 == LEAF_HAND_OVER) { r0 = 0; ctx.status = HAND_OVER; }
            } else {
                r0 = f((uint64_t)(uintptr_t)packet, packet_len, &ctx);
            }
            putchar('r');
            fwrite(&r0, 8, 1, stdout);
            fwrite(&ctx.status, 4, 1, stdout);
            fwrite(&ctx.err_pc, 4, 1, stdout);
            fflush(stdout);
        } else if (cmd == 'S') {
            uint32_t m = read_u32();
            if (m + 1 > mem_cap) { mem_cap = m + 1; mem = realloc(mem, mem_cap); }
            read_exact(mem, m);
            uint32_t k = read_u32();
            uint64_t *descs = calloc(2 * (size_t)k + 2, 8);
            uint32_t *verdicts = calloc((size_t)k + 1, 4);
            uint8_t **packets = calloc((size_t)k + 1, sizeof *packets);
            if (!descs || !verdicts || !packets) return 6;
            for (uint32_t i = 0; i < k; i++) {
                uint32_t p = read_u32();
                packets[i] = malloc((size_t)p + 1);
                if (!packets[i]) return 6;
                read_exact(packets[i], p);
                descs[2 * i] = (uint64_t)(uintptr_t)packets[i];
                descs[2 * i + 1] = p;
            }
            uint64_t done = ((batch_fn)code)(descs, k, verdicts, mem);
            putchar('b');
            fwrite(&done, 8, 1, stdout);
            fwrite(verdicts, 4, k, stdout);
            fflush(stdout);
            for (uint32_t i = 0; i < k; i++) free(packets[i]);
            free(packets); free(verdicts); free(descs);
        } else {
            return 5;
        }
    }
}
