//! libbpf, the loader users put clang-built objects into the kernel with:
//! `bpf_object__open_mem` + `bpf_object__load` (BTF, maps, relocations,
//! the verifier and the kernel's JIT), the peer of our object load in
//! the `xdp` bench. Needs libbpf (libbpf-dev) and root.

use std::os::raw::{c_char, c_int, c_void};

/// libbpf's print callback (level, format, `va_list`).
type PrintFn = unsafe extern "C" fn(c_int, *const c_char, *mut c_void) -> c_int;

#[link(name = "bpf")]
extern "C" {
    fn bpf_object__open_mem(buf: *const c_void, size: usize, opts: *const c_void) -> *mut c_void;
    fn bpf_object__load(obj: *mut c_void) -> c_int;
    fn bpf_object__close(obj: *mut c_void);
    fn libbpf_set_print(print: Option<PrintFn>) -> Option<PrintFn>;
}

/// Opens `object` (ELF bytes) and loads every program and map of it into
/// the running kernel, then closes it all: one whole load as libbpf makes
/// it. `Err` with libbpf's error code when the kernel refuses it (or no
/// BPF is allowed here).
pub fn load_and_close(object: &[u8]) -> Result<(), i32> {
    // SAFETY: libbpf reads `object.len()` bytes from the pointer (it keeps
    // its own copy); a null options pointer asks for the defaults.
    let obj =
        unsafe { bpf_object__open_mem(object.as_ptr().cast(), object.len(), std::ptr::null()) };
    if obj.is_null() {
        return Err(-1);
    }
    // SAFETY: `obj` is the live object just opened, loaded and then closed
    // once (closing frees the programs' and maps' descriptors).
    let rc = unsafe {
        let rc = bpf_object__load(obj);
        bpf_object__close(obj);
        rc
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(rc)
    }
}

/// Silences libbpf's messages (a refused load is reported by the caller).
pub fn quiet() {
    // SAFETY: libbpf keeps the (null) function pointer and calls no print
    // function afterwards.
    unsafe {
        libbpf_set_print(None);
    }
}
