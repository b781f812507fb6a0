//! `--help` in BCC's style (usage, options, then an "examples:" section) and a hidden `--man`
//! flag on every tool that prints its man page (roff, from the same clap definition).
use clap::CommandFactory;

/// Parse the command line of tool `A`, with `examples` (one `    tool -x   # what` per line)
/// shown after the options. Bad flags print clap's message naming the flag and exit 2.
/// `tool --man` prints the man page (section 8, like BCC's) and exits 0.
pub fn parse<A: clap::Parser>(examples: &str) -> A {
    let cmd = command::<A>(examples);
    if std::env::args_os().nth(1).is_some_and(|a| a == "--man") {
        let mut out = std::io::stdout().lock();
        let code = match man_page(cmd, &mut out) {
            Ok(()) => 0,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
            Err(e) => {
                eprintln!("error writing man page: {e}");
                1
            }
        };
        std::process::exit(code);
    }
    let matches = cmd.get_matches();
    A::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// The clap command of `A` with the examples section attached (also used by man page tests).
pub fn command<A: CommandFactory>(examples: &str) -> clap::Command {
    A::command().after_help(format!(
        "examples:\n{}",
        examples.trim_matches('\n').trim_end()
    ))
}

/// Render `cmd` as a section-8 man page; the examples become an EXAMPLES section.
pub fn man_page(cmd: clap::Command, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let examples = cmd.get_after_help().map(|s| s.to_string());
    let cmd = cmd.after_help(None::<&str>);
    let man = clap_mangen::Man::new(cmd)
        .section("8")
        .manual("lab BPF tools");
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    if let Some(ex) = examples {
        let body = ex.strip_prefix("examples:\n").unwrap_or(&ex);
        writeln!(out, ".SH EXAMPLES\n.nf")?;
        for line in body.lines() {
            // Leading '.' or '\'' would be read as roff requests; escape backslashes too.
            let line = line.trim_start().replace('\\', "\\e");
            writeln!(out, "\\&{line}")?;
        }
        writeln!(out, ".fi")?;
    }
    Ok(())
}
