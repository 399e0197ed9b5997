//! Where a program comes from: a file (any form, auto-detected), stdin
//! (`-`), or inline text with `--ddd`.

use super::prog_source::{self, Source};
use super::Failure;
use clap::{Args, ValueEnum};
use cranebpf::cbpf::parse::{self, Form};
use cranebpf::cbpf::Program;
use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;

/// Input forms a user can force with `--from`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum InputForm {
    /// tcpdump -ddd (count line, then `code jt jf k` lines).
    Ddd,
    /// One line: `count,code jt jf k,...`.
    Comma,
    /// tcpdump -dd (`{ 0x28, 0, 0, 0x0000000c },`).
    Dd,
    /// bpf_asm source.
    Asm,
    /// Raw 8-byte little-endian struct sock_filter records.
    Raw,
}

impl InputForm {
    /// The parser's name for this form.
    pub fn form(self) -> Form {
        match self {
            InputForm::Ddd => Form::Ddd,
            InputForm::Comma => Form::Comma,
            InputForm::Dd => Form::Dd,
            InputForm::Asm => Form::Asm,
            InputForm::Raw => Form::Raw,
        }
    }
}

/// The program arguments shared by every subcommand.
#[derive(Args, Debug)]
pub struct ProgArgs {
    /// Program file in any form (auto-detected; `-` reads stdin), or a
    /// pcap-filter expression such as 'tcp port 443', whose words may also
    /// come unquoted, as tcpdump takes them.
    #[arg(value_name = "PROG")]
    pub prog: Vec<OsString>,
    /// The program inline, e.g. '4,40 0 0 12,21 0 1 2048,6 0 0 65535,6 0 0 0'.
    #[arg(long, value_name = "TEXT", conflicts_with = "prog")]
    pub ddd: Option<String>,
    /// Read the pcap-filter expression from FILE (tcpdump's -F; `#` starts
    /// a comment running to the end of the line).
    #[arg(short = 'F', value_name = "FILE", conflicts_with_all = ["prog", "ddd"])]
    pub expr_file: Option<PathBuf>,
    /// Read the program in this form instead of detecting it.
    #[arg(long, value_enum, value_name = "FORM")]
    pub from: Option<InputForm>,
    /// Compile PROG as a pcap-filter expression even if a file has that name.
    #[arg(long, conflicts_with = "file")]
    pub expr: bool,
    /// Read PROG as a program file even if no such file exists.
    #[arg(long)]
    pub file: bool,
    /// Link type for expressions: EN10MB (default), RAW, IPV4, IPV6,
    /// LINUX_SLL, LINUX_SLL2, NULL, LOOP, IEEE802_11,
    /// IEEE802_11_RADIO, IEEE802_11_RADIO_AVS, PRISM_HEADER, PPI, FDDI,
    /// IEEE802 (token ring), IP_OVER_FC, PPP, PPP_SERIAL, PPP_ETHER,
    /// PPP_BSDOS, PPP_PPPD, C_HDLC, SLIP, SLIP_BSDOS, ARCNET, ARCNET_LINUX,
    /// any other name libpcap knows (only primitives that need no header
    /// knowledge), or a LINKTYPE_ number (`-y`, as tcpdump spells it).
    #[arg(long, short = 'y', value_name = "LINKTYPE")]
    pub linktype: Option<String>,
    /// Compile expressions without the optimiser, as `tcpdump -O` does
    /// (libpcap's unoptimised program, instruction for instruction).
    #[arg(long = "no-optimize", short = 'O')]
    pub no_optimize: bool,
}

/// What the program arguments name.
pub enum ProgSource {
    /// Nothing: no PROG, `--ddd` or `-F`.
    Nothing,
    /// A pcap-filter expression, still to compile.
    Expr(String),
    /// A classic program, read and parsed.
    Program(Program),
}

impl ProgArgs {
    /// Whether a program or expression was given at all.
    pub fn given(&self) -> bool {
        !self.prog.is_empty() || self.ddd.is_some() || self.expr_file.is_some()
    }

    /// Reads the arguments: an expression (several PROG words, `-F FILE`,
    /// or a PROG that names no file) or a program (read and parsed).
    pub fn source(&self) -> Result<ProgSource, Failure> {
        if let Some(path) = &self.expr_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
            return Ok(ProgSource::Expr(strip_comments(&text)));
        }
        if self.prog.len() > 1 {
            let words: Vec<_> = self.prog.iter().map(|w| w.to_string_lossy()).collect();
            return Ok(ProgSource::Expr(words.join(" ")));
        }
        let arg = self.prog.first().map(PathBuf::from);
        // PROG that names no file is a pcap-filter expression.
        if let (None, Some(arg)) = (&self.ddd, &arg) {
            let force = match (self.expr, self.file) {
                (true, _) => Some(Source::Expr),
                (_, true) => Some(Source::File),
                _ => None,
            };
            if prog_source::choose(arg, force) == Source::Expr {
                return Ok(ProgSource::Expr(arg.to_string_lossy().into_owned()));
            }
        }
        let (bytes, name) = match (&self.ddd, &arg) {
            (Some(text), _) => (text.clone().into_bytes(), "--ddd".to_string()),
            (None, Some(path)) if path.as_os_str() == "-" => {
                let mut buf = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut buf)
                    .map_err(|e| Failure::bad_input(format!("stdin: {e}")))?;
                (buf, "stdin".to_string())
            }
            (None, Some(path)) => {
                let buf = std::fs::read(path)
                    .map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
                (buf, path.display().to_string())
            }
            (None, None) => return Ok(ProgSource::Nothing),
        };
        let form = self
            .from
            .map_or_else(|| parse::detect(&bytes), InputForm::form);
        parse::parse_as(&bytes, form)
            .map(ProgSource::Program)
            .map_err(|e| Failure::bad_input(format!("{name}: {e}")))
    }

    /// Reads and parses the program (compiling an expression for the
    /// `--linktype`), or explains why it could not.
    pub fn load(&self) -> Result<Program, Failure> {
        self.load_for(|_| Ok(()))
    }

    /// [`ProgArgs::load`], an expression's link type first passing
    /// `link_ok` (whose error is the message).
    pub fn load_for(
        &self,
        link_ok: impl FnOnce(cranebpf::LinkType) -> Result<(), String>,
    ) -> Result<Program, Failure> {
        match self.source()? {
            ProgSource::Program(p) => Ok(p),
            ProgSource::Expr(text) => {
                let link =
                    prog_source::link_type(self.linktype.as_deref()).map_err(Failure::bad_input)?;
                link_ok(link).map_err(Failure::bad_input)?;
                prog_source::compile_for(&text, link, !self.no_optimize).map_err(Failure::bad_input)
            }
            ProgSource::Nothing => Err(Failure::bad_input(
                "no program given (PROG, --ddd TEXT or -F FILE)",
            )),
        }
    }
}

/// tcpdump's reading of a `-F` file: `#` and the rest of its line are
/// blanks.
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}
