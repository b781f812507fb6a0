//! oomkill: trace the out-of-memory killer, BCC-compatible output line per kill.
use std::{io::Write, process::ExitCode, time::Duration};

use anyhow::Result;
use lab_probes::mem::{OomHook, OomKill, OomSnoop};
use lab_tools::{
    help, output,
    runtime::{Runtime, Schedule},
    snoop, timefmt,
};

const EXAMPLES: &str = "
    oomkill                     # trace OOM kills
    oomkill --hook tracepoint   # use oom:mark_victim even where kprobes exist";

fn hook_arg(s: &str) -> Result<OomHook, String> {
    match s {
        "kprobe" => Ok(OomHook::Kprobe),
        "tracepoint" => Ok(OomHook::Tracepoint),
        _ => Err(format!("'{s}': want kprobe or tracepoint")),
    }
}

/// Trace out-of-memory kills
#[derive(clap::Parser, Debug)]
#[command(
    name = "oomkill",
    about = "Trace the out-of-memory (OOM) killer: who triggered it, who was killed, the load average",
    version
)]
struct Args {
    /// hook: kprobe (oom_kill_process, as BCC; pages = the OOM's total pages) or tracepoint
    /// (oom:mark_victim; pages = the victim's total_vm where the kernel records it, 6.8+)
    #[arg(long = "hook", value_name = "HOOK", value_parser = hook_arg)]
    hook: Option<OomHook>,
}

fn main() -> ExitCode {
    let args: Args = help::parse(EXAMPLES);
    lab_tools::run("oomkill", || trace(&args))
}

fn trace(args: &Args) -> Result<()> {
    let mut snoop = OomSnoop::attach(args.hook)?;
    let hook = match snoop.hook {
        OomHook::Kprobe => "kprobe oom_kill_process",
        OomHook::Tracepoint => "tracepoint oom:mark_victim",
    };
    let mut out = output::stdout();
    writeln!(out, "Tracing OOM kills ({hook})... Ctrl-C to stop.")?;
    out.flush()?;
    let mut rt = Runtime::new(Schedule::default())?;
    rt.drain_every(Duration::from_millis(200));
    snoop::run("oomkill", &mut rt, &mut snoop, &mut out, |k, out| {
        print_kill(&k, out)
    })?;
    Ok(())
}

fn print_kill(k: &OomKill, out: &mut impl Write) -> Result<()> {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let pages = match k.pages {
        Some(p) => p.to_string(),
        None => "?".into(),
    };
    writeln!(
        out,
        "{} Triggered by PID {} (\"{}\"), OOM kill of PID {} (\"{}\"), {} pages, loadavg: {}",
        timefmt::hms(),
        k.trigger_pid,
        k.trigger_comm,
        k.victim_pid,
        k.victim_comm,
        pages,
        load.trim_end()
    )?;
    Ok(())
}
