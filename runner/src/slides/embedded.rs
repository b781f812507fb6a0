//! The deck as shipped: every file of slides/ that rendering can read, compiled in with
//! include_bytes! (so edits rebuild `lab`). tests/it/slides.rs checks that this list and the
//! slides/ folder render the same deck, so a file added there but not here is caught.
macro_rules! deck {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../slides/", $name)) as &[u8])),*]
    };
}

pub static FILES: &[(&str, &[u8])] = deck![
    "01-intro.md",
    "02-bpf.md",
    "03-tools.md",
    "04-analysis.md",
    "05-bpftrace.md",
    "06-labs.md",
    "07-wrapup.md",
    "images/bpf-tool-flow.svg",
    "captures/tcpdump-d.txt",
    "captures/vmstat.txt",
    "captures/mpstat.txt",
    "captures/bpftrace-bytes.txt",
    "captures/execsnoop.txt",
    "captures/runqlat.txt",
    "captures/runqlen.txt",
    "captures/biolatency.txt",
    "captures/profile.txt",
    "captures/lab-tools.txt",
    "captures/trace.txt",
    "captures/tcplife.txt",
    "captures/funccount.txt",
    "captures/xfsslower.txt",
    "captures/xfsdist.txt",
];
