//! `completions`, `manpage` and the xt_bpf warning of `disasm --format
//! comma`.

mod support;

use support::cli;

#[test]
fn completions_for_every_shell_name_the_subcommands_and_options() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, out, err) = cli(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        for word in [
            "cranebpf",
            "filter",
            "disasm",
            "conformance",
            "linktype",
            "engine",
        ] {
            assert!(out.contains(word), "{shell} completions lack {word}");
        }
    }
    let (code, _, err) = cli(&["completions", "tcsh"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn man_pages_come_from_the_command_definition() {
    let (code, page, err) = cli(&["manpage"]);
    assert_eq!(code, 0, "{err}");
    assert!(page.contains(".TH cranebpf 1"), "{page}");
    assert!(page.contains("filter") && page.contains("completions"));
    let dir = support::temp_file("unused", b"");
    let dir = dir.parent().expect("temp dir");
    let (code, _, err) = cli(&["manpage", "--dir", dir.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{err}");
    let filter = std::fs::read_to_string(dir.join("cranebpf-filter.1")).expect("filter page");
    assert!(filter.contains(".TH cranebpf-filter 1"), "{filter}");
    assert!(filter.contains("\\-\\-linktype"), "{filter}");
    assert!(!dir.join("cranebpf-help.1").exists());
    assert!(!dir.join("cranebpf-gen-capture.1").exists());
    let (code, _, err) = cli(&["manpage", "--dir", "/nonexistent/dir"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/dir/cranebpf.1"), "{err}");
}

/// A classic program of `n` instructions in the comma form.
fn comma_program(n: usize) -> String {
    let mut text = n.to_string();
    for _ in 1..n {
        text.push_str(",177 0 0 0"); // ldx 4*([0]&0xf)
    }
    text.push_str(",6 0 0 1");
    text
}

#[test]
fn comma_form_warns_above_xt_bpf_limit() {
    let at_limit = comma_program(64);
    let (code, out, err) = cli(&["disasm", "--ddd", &at_limit, "--format", "comma"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, format!("{at_limit}\n"));

    let over = comma_program(65);
    let (code, out, err) = cli(&["disasm", "--ddd", &over, "--format", "comma"]);
    assert_eq!(code, 0);
    assert_eq!(out, format!("{over}\n"), "the program is still written");
    assert_eq!(
        err,
        "cranebpf: warning: 65 instructions; iptables -m bpf (xt_bpf) accepts at most 64 \
         (XT_BPF_MAX_NUM_INSTR)\n"
    );
    // Other forms are not for iptables: no warning.
    let (_, _, err) = cli(&["disasm", "--ddd", &over, "--format", "ddd"]);
    assert_eq!(err, "");
}
