//! bpftrace's own errors (syntax, unknown probe, missing headers, verifier, attach) turned into a
//! verdict: the line of the tool it points at, bpftrace's message, and a hint for this machine.
use std::path::Path;

/// One error bpftrace reported.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ToolError {
    /// 1-based line in the tool, when bpftrace gave one.
    pub line: Option<usize>,
    /// That line of the tool.
    pub source: Option<String>,
    pub message: String,
    pub hint: String,
}

/// The errors in bpftrace's stderr (warnings and the harmless RLIMIT_MEMLOCK notice skipped).
pub fn parse(stderr: &str, tool: &Path) -> Vec<ToolError> {
    let src: Vec<String> = std::fs::read_to_string(tool)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let mut out = Vec::new();
    for l in stderr.lines() {
        let Some(idx) = l.find("ERROR:") else {
            // clang's errors for #include lines: "/usr/include/linux/sched.h:93:2: error: ..."
            if l.contains(": error:") && out.is_empty() && l.contains(".h:") {
                out.push(ToolError {
                    line: src
                        .iter()
                        .position(|s| s.trim_start().starts_with("#include"))
                        .map(|i| i + 1),
                    source: src
                        .iter()
                        .find(|s| s.trim_start().starts_with("#include"))
                        .cloned(),
                    message: l.trim().to_string(),
                    hint: hint(l),
                });
            }
            continue;
        };
        let message = l[idx + "ERROR:".len()..].trim().to_string();
        if message.contains("RLIMIT_MEMLOCK") {
            continue;
        }
        // "FILE:LINE:COL-COL: ERROR: msg"
        // "FILE:LINE:COL-COL: ERROR" or "FILE:LINE-LINE: ERROR": the first number after the file.
        let line = l[..idx]
            .trim_end_matches([' ', ':'])
            .split(':')
            .skip(1)
            .find_map(|seg| seg.split('-').next()?.trim().parse::<usize>().ok());
        // bpftrace's line for a probe can point at the lines before it: prefer the line that
        // names the probe when the message quotes one.
        let named = message
            .split_once("not found: ")
            .map(|(_, p)| p.trim().trim_matches('\''))
            .and_then(|p| src.iter().position(|l| l.contains(p)).map(|i| i + 1));
        let line = named.or(line);
        let source = line.and_then(|n| src.get(n.wrapping_sub(1)).cloned());
        out.push(ToolError {
            line,
            source,
            hint: hint(&message),
            message,
        });
    }
    out
}

/// What to do about an error, for this kernel (lab machines differ: some have no kprobes, no
/// working fentry or no kernel headers).
pub fn hint(msg: &str) -> String {
    let m = msg.to_lowercase();
    let h = if m.contains("syntax error") {
        "bpftrace syntax is `probe /filter/ { action; action; }`: check the braces, semicolons and quotes on that line"
    } else if m.contains("str() expects") && m.contains("string[") {
        // Tracepoint formats differ between kernels: sched_process_fork's parent_comm is
        // `char[16]` up to 6.12 and `__data_loc char[]` (a pointer for bpftrace) on newer ones.
        "on this kernel that field is a fixed char array, already a string: print it without str() (str() is for __data_loc and pointer fields; `sudo bpftrace -lv tracepoint:CAT:NAME` shows which). For the current task's name, the comm builtin works on every kernel"
    } else if m.contains("%s specifier expects") && !m.contains("string supplied") {
        "on this kernel that field is not a string but a __data_loc or pointer field: print it with str(args->field) (`sudo bpftrace -lv tracepoint:CAT:NAME` shows its type). For the current task's name, the comm builtin works on every kernel"
    } else if m.contains("tracepoint not found") {
        "no such tracepoint on this kernel: list them with `sudo bpftrace -l 'tracepoint:block:*'` (or syscalls:*, sched:*)"
    } else if (m.contains("kprobe") || m.contains("kretprobe"))
        && !lab_probes::capabilities::kprobes_compiled_in()
    {
        "this kernel has no kprobes (CONFIG_KPROBES is off): use tracepoints instead, e.g. tracepoint:block:block_rq_issue or tracepoint:syscalls:sys_enter_unlinkat"
    } else if m.contains("kprobe") || m.contains("kretprobe") {
        "that kprobe did not attach: the function may be missing, renamed or inlined on this kernel (`sudo bpftrace -l 'kprobe:NAME*'`); tracepoints stay the same across kernels"
    } else if m.contains("kfunc") || m.contains("fentry") || m.contains("kretfunc") {
        "kfunc/fentry probes did not load on this kernel (`sudo lab doctor` says whether fentry works here): use tracepoints"
    } else if m.contains("include headers") || m.contains(".h:") || m.contains("unknown type name")
    {
        "no kernel headers for this kernel: drop the #include and use tracepoint arguments (args->field) and numeric constants"
    } else if m.contains("does not contain a field") {
        "see the tracepoint's fields with `sudo bpftrace -lv tracepoint:CATEGORY:NAME`"
    } else if m.contains("error loading program")
        || m.contains("verifier")
        || m.contains("permission denied")
    {
        "the kernel's BPF verifier rejected the program: look for unbounded loops, reads of pointers without str()/probe_read, or too large stack use"
    } else if m.contains("error attaching probe") {
        "the probe exists in the program but could not be attached on this kernel: use a tracepoint (sudo bpftrace -l 'tracepoint:*')"
    } else if m.contains("undefined")
        || m.contains("unknown function")
        || m.contains("unknown identifier")
    {
        "a map, variable or function name is wrong or used before it is set; see `man bpftrace` for builtins"
    } else {
        "run it yourself with `sudo bpftrace FILE.bt` to see the whole message"
    };
    h.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_field_errors_name_the_kernel_difference() {
        // bpftrace 0.17 says "integer supplied", 0.23 "int supplied".
        for msg in [
            "str() expects an integer or a pointer type as first argument (string[16] provided)",
            "printf: %s specifier expects a value of type string (integer supplied)",
            "printf: %s specifier expects a value of type string (int supplied)",
        ] {
            let h = hint(msg);
            assert!(
                h.contains("comm builtin") && h.contains("__data_loc"),
                "{msg}: {h}"
            );
        }
    }

    #[test]
    fn located_error() {
        let e = parse(
            "ERROR: Unknown error -1: couldn't set RLIMIT_MEMLOCK for bpftrace.\nx.bt:3:48-50: ERROR: syntax error, unexpected }, expecting {\n",
            Path::new("/nonexistent"),
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, Some(3));
        assert!(e[0].hint.contains("syntax"));
    }
}
