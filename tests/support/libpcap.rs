//! The installed libpcap, loaded at run time (`dlopen`), as the oracle for
//! tests: its compiler (`pcap_compile`), its listing (`bpf_image`), its
//! validator and its interpreter (`bpf_filter`). Loading at run time keeps
//! the test binaries linkable where libpcap is missing; such tests then
//! skip, or fail under `CI=true` (see [`LibPcap::load_or_skip`]).

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};

use cranebpf::cbpf::{Insn, Program};

/// libpcap's compiler and `bpf_image` keep global state (a static listing
/// buffer, the parser's globals): one caller at a time across test threads.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy)]
struct BpfInsn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

/// `struct bpf_program`.
#[repr(C)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *mut BpfInsn,
}

type OpenDead = unsafe extern "C" fn(c_int, c_int) -> *mut c_void;
type Compile =
    unsafe extern "C" fn(*mut c_void, *mut BpfProgram, *const c_char, c_int, u32) -> c_int;
type FreeCode = unsafe extern "C" fn(*mut BpfProgram);
type GetErr = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type Close = unsafe extern "C" fn(*mut c_void);
type Image = unsafe extern "C" fn(*const BpfInsn, c_int) -> *const c_char;
type NameToVal = unsafe extern "C" fn(*const c_char) -> c_int;
type Filter = unsafe extern "C" fn(*const BpfInsn, *const u8, c_uint, c_uint) -> c_uint;
type Validate = unsafe extern "C" fn(*const BpfInsn, c_int) -> c_int;

/// libpcap's entry points.
pub struct LibPcap {
    open_dead: OpenDead,
    compile: Compile,
    freecode: FreeCode,
    geterr: GetErr,
    close: Close,
    image: Image,
    name_to_val: NameToVal,
    filter: Filter,
    validate: Validate,
}

/// libpcap's default snapshot length (what tcpdump's programs return).
pub const SNAPLEN: i32 = 262_144;

fn to_c(prog: &[Insn]) -> Vec<BpfInsn> {
    prog.iter()
        .map(|i| BpfInsn {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect()
}

impl LibPcap {
    /// Loads `libpcap.so.0.8` (Debian's soname for libpcap 1.x).
    pub fn load() -> Result<LibPcap, String> {
        // SAFETY: dlopen/dlsym with NUL-terminated names; every symbol is
        // cast to the signature libpcap 1.10's headers declare for it, and
        // the library is never closed, so the pointers stay valid.
        unsafe {
            let handle = libc::dlopen(c"libpcap.so.0.8".as_ptr(), libc::RTLD_NOW);
            if handle.is_null() {
                let why = CStr::from_ptr(libc::dlerror())
                    .to_string_lossy()
                    .into_owned();
                return Err(format!("loading libpcap: {why}"));
            }
            let sym = |name: &CStr| {
                let p = libc::dlsym(handle, name.as_ptr());
                if p.is_null() {
                    Err(format!("libpcap has no {}", name.to_string_lossy()))
                } else {
                    Ok(p)
                }
            };
            Ok(LibPcap {
                open_dead: std::mem::transmute::<*mut c_void, OpenDead>(sym(c"pcap_open_dead")?),
                compile: std::mem::transmute::<*mut c_void, Compile>(sym(c"pcap_compile")?),
                freecode: std::mem::transmute::<*mut c_void, FreeCode>(sym(c"pcap_freecode")?),
                geterr: std::mem::transmute::<*mut c_void, GetErr>(sym(c"pcap_geterr")?),
                close: std::mem::transmute::<*mut c_void, Close>(sym(c"pcap_close")?),
                image: std::mem::transmute::<*mut c_void, Image>(sym(c"bpf_image")?),
                name_to_val: std::mem::transmute::<*mut c_void, NameToVal>(sym(
                    c"pcap_datalink_name_to_val",
                )?),
                filter: std::mem::transmute::<*mut c_void, Filter>(sym(c"bpf_filter")?),
                validate: std::mem::transmute::<*mut c_void, Validate>(sym(c"bpf_validate")?),
            })
        }
    }

    /// [`LibPcap::load`], or `None` with a printed reason; a failure under
    /// `CI=true`.
    pub fn load_or_skip() -> Option<LibPcap> {
        match LibPcap::load() {
            Ok(l) => Some(l),
            Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("libpcap unavailable under CI=true: {why}")
            }
            Err(why) => {
                eprintln!("skipping: {why}");
                None
            }
        }
    }

    /// `pcap_compile` for the link type called `link` (`EN10MB`, `RAW`,
    /// …), optimised or not, netmask 0 as in `tcpdump -d`: the program, or
    /// libpcap's error text.
    pub fn compile(&self, link: &str, expr: &str, optimize: bool) -> Result<Program, String> {
        let dlt = self
            .dlt(link)
            .ok_or_else(|| format!("libpcap knows no link type {link:?}"))?;
        self.compile_dlt(dlt, expr, optimize, 0)
    }

    /// The DLT number libpcap gives a link-type name (`RAW` → 12 on
    /// Linux), or `None` when it knows no such name.
    pub fn dlt(&self, link: &str) -> Option<i32> {
        let link = CString::new(link).ok()?;
        // SAFETY: a NUL-terminated string the function only reads.
        let dlt = unsafe { (self.name_to_val)(link.as_ptr()) };
        (dlt >= 0).then_some(dlt)
    }

    /// `pcap_compile` for DLT number `dlt` with an interface netmask (host
    /// byte order; only `ip broadcast` uses it).
    pub fn compile_dlt(
        &self,
        dlt: i32,
        expr: &str,
        optimize: bool,
        netmask: u32,
    ) -> Result<Program, String> {
        let expr = CString::new(expr).map_err(|e| e.to_string())?;
        let _one_at_a_time = serial();
        // SAFETY: FFI into libpcap with the signatures it declares; the
        // pcap_t is closed and the program freed before returning, and the
        // instructions are copied out first.
        unsafe {
            let p = (self.open_dead)(dlt, SNAPLEN);
            if p.is_null() {
                return Err("pcap_open_dead failed".into());
            }
            let mut prog = BpfProgram {
                bf_len: 0,
                bf_insns: std::ptr::null_mut(),
            };
            let rc = (self.compile)(p, &mut prog, expr.as_ptr(), optimize as c_int, netmask);
            let result = if rc != 0 {
                Err(CStr::from_ptr((self.geterr)(p))
                    .to_string_lossy()
                    .into_owned())
            } else {
                let insns = std::slice::from_raw_parts(prog.bf_insns, prog.bf_len as usize)
                    .iter()
                    .map(|i| Insn {
                        code: i.code,
                        jt: i.jt,
                        jf: i.jf,
                        k: i.k,
                    })
                    .collect();
                (self.freecode)(&mut prog);
                Ok(Program::new(insns))
            };
            (self.close)(p);
            result
        }
    }

    /// libpcap's listing of a program (`bpf_dump`'s `-d` form: one
    /// `bpf_image` line per instruction).
    pub fn listing(&self, prog: &Program) -> String {
        let c = to_c(&prog.insns);
        let _one_at_a_time = serial();
        let mut out = String::new();
        for (i, insn) in c.iter().enumerate() {
            // SAFETY: bpf_image reads one instruction and returns a pointer
            // to its static buffer, copied out before the next call.
            let line = unsafe { CStr::from_ptr((self.image)(insn, i as c_int)) };
            out.push_str(&line.to_string_lossy());
            out.push('\n');
        }
        out
    }

    /// `bpf_validate`: whether libpcap would install the program.
    pub fn validate(&self, prog: &Program) -> bool {
        let c = to_c(&prog.insns);
        // SAFETY: the array and its length agree.
        unsafe { (self.validate)(c.as_ptr(), c.len() as c_int) != 0 }
    }

    /// `bpf_filter` on a whole packet (wire length = captured length). Only
    /// for programs [`LibPcap::validate`] accepts and that end (libpcap's
    /// interpreter has no loop bound).
    pub fn filter(&self, prog: &Program, packet: &[u8]) -> u32 {
        let c = to_c(&prog.insns);
        let len = packet.len() as c_uint;
        // SAFETY: bpf_filter reads at most `len` packet bytes and the
        // program's own instructions, which the caller had validated.
        unsafe { (self.filter)(c.as_ptr(), packet.as_ptr(), len, len) }
    }
}
