//! Native code across `fork` (Linux, x86-64): short programs' code lives in
//! a memory file mapped twice (writable and executable), and a shared
//! mapping stays shared with a forked child. Parent and child may each
//! still run a program compiled before the fork, so neither may refill or
//! carve the chunks that existed then. Alone in its binary: the child of a
//! multi-threaded test process could inherit a lock another test held.

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn programs_compiled_before_a_fork_keep_their_code_in_parent_and_child() {
    use cranebpf::cbpf::{Insn, Program};
    use cranebpf::{Engine, Filter};

    // `ldb [0]; add #k; ret a`: the packet's first byte plus k.
    let filter = |k: u32| {
        let f = Filter::new(Program::new(vec![
            Insn::stmt(0x30, 0),
            Insn::stmt(0x04, k),
            Insn::stmt(0x16, 0),
        ]))
        .expect("builds");
        assert_eq!(f.engine(), Engine::Jit);
        f
    };
    let packet = [1u8];
    // Two programs before the fork; each process drops the other's and
    // compiles new ones of the same size, which would refill its slot.
    let (mine, theirs) = (filter(1000), filter(2000));
    let mut to_child = [0; 2];
    // SAFETY: a pipe's two descriptors into a two-element array.
    assert_eq!(unsafe { libc::pipe(to_child.as_mut_ptr()) }, 0);
    // SAFETY: this test is alone in its process (its own binary, one
    // test); the child only compiles and runs filters and leaves with
    // `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        drop(mine);
        let new: Vec<Filter> = (0..200).map(|k| filter(5000 + k)).collect();
        // Wait until the parent has compiled its own new programs.
        let mut byte = [0u8];
        // SAFETY: reads one byte into a one-byte buffer.
        unsafe { libc::read(to_child[0], byte.as_mut_ptr().cast(), 1) };
        let ok = theirs.run(&packet) == 2001
            && new.iter().zip(5000..).all(|(f, k)| f.run(&packet) == k + 1);
        // SAFETY: ends the child without running the parent's exit path.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    drop(theirs);
    let new: Vec<Filter> = (0..200).map(|k| filter(9000 + k)).collect();
    // SAFETY: writes one byte from a one-byte buffer.
    unsafe { libc::write(to_child[1], [1u8].as_ptr().cast(), 1) };
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child's programs ran other code (status {status:#x})"
    );
    assert_eq!(mine.run(&packet), 1001);
    for (f, k) in new.iter().zip(9000..) {
        assert_eq!(f.run(&packet), k + 1);
    }
}
