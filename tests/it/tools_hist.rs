//! The histogram tools (biolatency, biosnoop, bitesize, runqlat, runqlen, cpudist) run as
//! binaries against workloads whose behaviour the test knows or measures itself:
//! - block I/O: N O_DIRECT writes of one size by a dd copy with a unique name, to a file on the
//!   disk under the build directory (its disk found from the file, not assumed);
//! - scheduling: K spinning threads pinned to one CPU (a C workload compiled here) that count
//!   their own context switches (getrusage) and time their own off-CPU gaps.
//!
//! Their BCC-format output is parsed back into histograms and compared with those figures.
use std::{
    collections::BTreeMap,
    io::{Read, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use lab_probes::hist::Hist;
use lab_tests::{cmd, compile_c, root_test, run, Workload};

// ---------------------------------------------------------------------------------------------
// Parsing BCC histogram output (independent of the printer in lab_probes::hist).

/// Histograms by section ("" when the output has no "name = value" sections), summed over
/// every interval printed. Log2 rows map to BCC's slots (row "lo -> hi" is slot log2(hi+1)),
/// linear rows to their value.
fn parse_hists(out: &str) -> BTreeMap<String, Hist> {
    let mut hists: BTreeMap<String, Hist> = BTreeMap::new();
    let mut section = String::new();
    for line in out.lines() {
        if let Some((k, v)) = line.split_once(" = ") {
            if !line.contains(':') && !k.trim().is_empty() {
                section = v.trim().to_string();
                continue;
            }
        }
        if line.trim().is_empty() {
            // A blank line ends a section: the next unsectioned histogram is "".
            section.clear();
            continue;
        }
        let Some((left, right)) = line.split_once(" : ") else {
            continue;
        };
        let Some(count) = right
            .split_whitespace()
            .next()
            .and_then(|c| c.parse::<u64>().ok())
        else {
            continue;
        };
        let slot = match left.split_once(" -> ") {
            Some((_, hi)) => {
                let hi: u64 = hi.trim().parse().unwrap();
                64 - hi.leading_zeros() as usize // hi = 2^i - 1
            }
            None => left.trim().parse::<usize>().unwrap(),
        };
        hists.entry(section.clone()).or_default().add(slot, count);
    }
    hists
}

// host only: a parser of text
#[test]
fn parser_reads_bcc_rows() {
    let out = "Tracing...\n\ndisk = vda\n     usecs               : count     distribution\n         0 -> 1          : 2        |**  |\n         4 -> 7          : 5        |*****|\n\n     runqlen       : count     distribution\n        0          : 7        |*|\n        3          : 1        |*|\n";
    let h = parse_hists(out);
    assert_eq!(h["vda"].get(1), 2);
    assert_eq!(h["vda"].get(3), 5);
    assert_eq!(h[""].get(0), 7);
    assert_eq!(h[""].get(3), 1);
}

// ---------------------------------------------------------------------------------------------
// Running a tool: wait for its ready line, stop it with SIGINT, collect its output.

struct Tool {
    child: Child,
    out: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
    name: String,
}

impl Tool {
    /// Start `name args` and wait until it prints a line containing `ready`.
    fn start(name: &str, args: &[&str], ready: &str) -> Tool {
        Self::start_env(name, args, ready, None)
    }

    /// `start` with one environment variable set.
    fn start_env(name: &str, args: &[&str], ready: &str, env: Option<(&str, &str)>) -> Tool {
        let mut c = cmd(name);
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        let mut child = c
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        let mut stdout = child.stdout.take().unwrap();
        let sink = Arc::clone(&out);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut t = Tool {
            child,
            out,
            reader: Some(reader),
            name: name.into(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !t.out.lock().unwrap().contains(ready) {
            if let Ok(Some(st)) = t.child.try_wait() {
                let mut err = String::new();
                t.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                panic!("{name} exited ({st}) before its ready line: {err}");
            }
            assert!(
                Instant::now() < deadline,
                "{name} printed no '{ready}' in 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        t
    }

    /// SIGINT, as Ctrl-C; returns (exit code, stdout, stderr) once it has printed its summary.
    fn stop(self) -> (i32, String, String) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        self.finish()
    }

    /// Wait for it to exit on its own (interval/count), at most 30 s.
    fn finish(mut self) -> (i32, String, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("{} did not exit within 30 s", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.reader.take().unwrap().join().unwrap();
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let out = self.out.lock().unwrap().clone();
        (status.code().unwrap_or(-1), out, err)
    }
}

impl Drop for Tool {
    fn drop(&mut self) {
        if self.reader.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Block I/O workload.

/// A scratch file on a real disk (under the build directory) and that disk's name.
fn io_file(test: &str) -> (PathBuf, String) {
    let dir = lab_tests::disk_dir().join(format!("tools_hist-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("data");
    (file.clone(), disk_of(&dir))
}

/// The whole-disk name ("vda") holding `path`, from its st_dev through /sys/dev/block.
fn disk_of(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(path).unwrap().dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    let sys =
        std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).unwrap_or_else(|_| {
            panic!(
                "{} is not on a block device ({major}:{minor}); the block I/O tests need a disk",
                path.display()
            )
        });
    let disk = if sys.join("partition").exists() {
        sys.parent().unwrap().to_path_buf()
    } else {
        sys
    };
    disk.file_name().unwrap().to_string_lossy().into_owned()
}

/// A copy of dd named `name` (so its comm is unique to this test run).
fn dd_named(dir: &Path, name: &str) -> PathBuf {
    let dd = ["/usr/bin/dd", "/bin/dd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("dd (coreutils)");
    let exe = dir.join(name);
    std::fs::copy(dd, &exe).unwrap();
    exe
}

/// Write the file once (buffered, synced) so later O_DIRECT writes only overwrite data blocks:
/// no allocation, no unwritten-extent conversion, one request per write.
fn preallocate(file: &Path, bytes: usize) {
    use std::os::fd::AsRawFd;
    let mut f = std::fs::File::create(file).unwrap();
    f.write_all(&vec![0xa5u8; bytes]).unwrap();
    f.sync_all().unwrap();
    // Drop the (clean) cached pages too, so the writer's O_DIRECT writes flush nothing first.
    unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
}

/// `count` O_DIRECT writes of `bs` bytes by `dd` (the copy at `exe`); returns dd's pid.
fn direct_writes(exe: &Path, file: &Path, bs: usize, count: usize) -> u32 {
    let mut c = Command::new(exe);
    c.arg("if=/dev/zero")
        .arg(format!("of={}", file.display()))
        .arg(format!("bs={bs}"))
        .arg(format!("count={count}"))
        .args(["oflag=direct", "conv=notrunc", "status=none"]);
    let child = c.spawn().unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "dd failed");
    pid
}

fn comm_of(exe: &Path) -> String {
    exe.file_name()
        .unwrap()
        .to_string_lossy()
        .chars()
        .take(15)
        .collect()
}

/// Probe hits the tool reported the kernel skipped ("the kernel skipped N probe hits"): the
/// only events a tool may be short by. The kernel skips a classic tracepoint program whenever
/// another tracing program runs on that CPU (a completion interrupt landing on the issue probe):
/// the block tools complete through a raw tracepoint to avoid that, and report what remains.
fn reported_skips(stderr: &str) -> usize {
    stderr
        .lines()
        .filter_map(|l| {
            l.split("skipped ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum()
}

/// `seen` of the `expected` events: every one, or short by no more than the tool reported.
fn assert_all_or_reported(what: &str, seen: usize, expected: usize, err: &str, out: &str) {
    let skipped = reported_skips(err);
    assert!(seen <= expected, "{what}: {seen} > {expected}:\n{out}");
    assert!(
        seen + skipped >= expected,
        "{what}: {seen} of {expected}, and the tool reported only {skipped} skipped:\n{out}\nstderr: {err}"
    );
    if seen < expected {
        eprintln!("{what}: {seen} of {expected}; the tool reported {skipped} skipped probe hits");
    }
}

/// Kernel program type (e.g. "BPF_PROG_TYPE_RAW_TRACEPOINT") of the newest loaded program
/// whose name starts with `prefix` (kernel names are cut to 15 characters; an earlier test's
/// program may still be on its way out).
fn loaded_program_type(prefix: &str) -> Option<String> {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter(|p| p.name_as_str().is_some_and(|n| n.starts_with(prefix)))
        .max_by_key(|p| p.id())
        .map(|p| format!("{:?}", p.program_type()))
}

const IO_BS: usize = 64 * 1024;
const IO_COUNT: usize = 40;

#[test]
fn bitesize_puts_every_direct_write_in_its_size_bucket() {
    let Some(_g) = root_test("bitesize_puts_every_direct_write_in_its_size_bucket") else {
        return;
    };
    let (file, disk) = io_file("bitesize");
    preallocate(&file, IO_BS * IO_COUNT);
    let dd = dd_named(
        file.parent().unwrap(),
        &format!("bsz{}", std::process::id()),
    );
    let tool = Tool::start("bitesize", &["-d", &disk], "Hit Ctrl-C");
    direct_writes(&dd, &file, IO_BS, IO_COUNT);
    let (code, out, err) = tool.stop();
    assert_eq!(code, 0, "{err}");
    let hists = parse_hists(&out);
    let mine = hists
        .get(&comm_of(&dd))
        .unwrap_or_else(|| panic!("no 'Process Name = {}' section:\n{out}", comm_of(&dd)));
    // Kbytes = 64 lands in BCC's row "64 -> 127", slot log2(64) + 1.
    let slot = 64 - ((IO_BS / 1024) as u64).leading_zeros() as usize;
    let got = mine.get(slot) as usize;
    assert_all_or_reported("writes in the 64 KiB slot", got, IO_COUNT, &err, &out);
    assert_eq!(
        mine.total(),
        mine.get(slot),
        "no other sizes from the writer:\n{out}"
    );
    let _ = std::fs::remove_dir_all(file.parent().unwrap());
}

#[test]
fn biosnoop_prints_one_line_per_direct_write_with_pid_disk_and_size() {
    let Some(_g) = root_test("biosnoop_prints_one_line_per_direct_write_with_pid_disk_and_size")
    else {
        return;
    };
    biosnoop_direct_writes(None, "BPF_PROG_TYPE_RAW_TRACEPOINT");
}

/// The classic-tracepoint completion (what kernels without the request layout in BTF get)
/// prints the same.
#[test]
fn biosnoop_classic_tracepoint_completion_prints_the_same() {
    let Some(_g) = root_test("biosnoop_classic_tracepoint_completion_prints_the_same") else {
        return;
    };
    biosnoop_direct_writes(
        Some((lab_probes::block::COMPLETE_ENV, "tracepoint")),
        "BPF_PROG_TYPE_TRACEPOINT",
    );
}

/// IO_COUNT O_DIRECT writes under biosnoop -Q (with `env` set): one line each, with the
/// writer's pid and comm, the disk, W, the size and a distinct sector. `complete_type` is the
/// program type biosnoop's completion must be loaded as.
fn biosnoop_direct_writes(env: Option<(&str, &str)>, complete_type: &str) {
    let (file, disk) = io_file("biosnoop");
    preallocate(&file, IO_BS * IO_COUNT);
    let dd = dd_named(
        file.parent().unwrap(),
        &format!("bsn{}", std::process::id()),
    );
    let tool = Tool::start_env("biosnoop", &["-Q"], "LAT(ms)", env);
    assert_eq!(
        loaded_program_type("biosnoop_comple").as_deref(),
        Some(complete_type),
        "biosnoop's completion program"
    );
    let pid = direct_writes(&dd, &file, IO_BS, IO_COUNT);
    std::thread::sleep(Duration::from_millis(200));
    let (code, out, err) = tool.stop();
    assert_eq!(code, 0, "{err}");
    let header = out.lines().next().unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["TIME(s)", "COMM", "PID", "DISK", "T", "SECTOR", "BYTES", "QUE(ms)", "LAT(ms)"]
    );
    let mine: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.get(2) == Some(&pid.to_string().as_str()))
        // dd may also read its own binary in (R lines); the writes are what we count.
        .filter(|f| f.get(4) == Some(&"W"))
        .collect();
    assert_all_or_reported(
        "biosnoop lines for the writes",
        mine.len(),
        IO_COUNT,
        &err,
        &out,
    );
    let mut sectors = std::collections::BTreeSet::new();
    for f in &mine {
        assert_eq!(f[1], comm_of(&dd));
        assert_eq!(f[3], disk);
        assert_eq!(f[4], "W");
        assert_eq!(f[6], IO_BS.to_string());
        sectors.insert(f[5].parse::<u64>().unwrap());
        let lat: f64 = f.last().unwrap().parse().unwrap();
        assert!((0.0..10_000.0).contains(&lat), "latency {lat} ms");
    }
    assert_eq!(sectors.len(), mine.len(), "each write at its own sector");
    let _ = std::fs::remove_dir_all(file.parent().unwrap());
}

/// usecs to BCC's log2 slot.
fn slot_of_us(us: u64) -> usize {
    if us <= 1 {
        1
    } else {
        64 - us.leading_zeros() as usize
    }
}

#[test]
fn biolatency_counts_the_writes_in_the_buckets_biosnoop_timed() {
    let Some(_g) = root_test("biolatency_counts_the_writes_in_the_buckets_biosnoop_timed") else {
        return;
    };
    let (file, disk) = io_file("biolatency");
    preallocate(&file, IO_BS * IO_COUNT);
    let dd = dd_named(
        file.parent().unwrap(),
        &format!("blt{}", std::process::id()),
    );
    // biosnoop times each of our writes; biolatency (a kernel-side histogram) must hold every
    // one of them in the bucket of its latency. Other I/O on the disk only adds counts, so the
    // checks are "at least".
    let lat = Tool::start("biolatency", &["-D", "-d", &disk], "Hit Ctrl-C");
    let snoop = Tool::start("biosnoop", &["-d", &disk], "LAT(ms)");
    let pid = direct_writes(&dd, &file, IO_BS, IO_COUNT).to_string();
    std::thread::sleep(Duration::from_millis(200));
    let (code, snoop_out, snoop_err) = snoop.stop();
    assert_eq!(code, 0, "{snoop_err}");
    let (code, lat_out, err) = lat.stop();
    assert_eq!(code, 0, "{err}");
    let hists = parse_hists(&lat_out);
    let h = hists
        .get(&disk)
        .unwrap_or_else(|| panic!("no 'disk = {disk}' section:\n{lat_out}"));
    assert_eq!(
        hists.len(),
        1,
        "-d {disk} traces only that disk:\n{lat_out}"
    );
    // biosnoop prints ms with 2 decimals (+-5 us) and the two tools' programs run a few us
    // apart (more in a TCG guest: lab_tests::clock_slack_us), so each write is placed in the
    // bucket range its latency +-slack can fall in. Every one-bucket and two-bucket range must
    // hold at least the writes that surely fall in it.
    let slack = lab_tests::clock_slack_us();
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for l in snoop_out.lines().skip(1) {
        let f: Vec<_> = l.split_whitespace().collect();
        if f.get(2) != Some(&pid.as_str()) {
            continue;
        }
        let us = f.last().unwrap().parse::<f64>().unwrap() * 1000.0;
        ranges.push((
            slot_of_us((us - slack).max(0.0) as u64),
            slot_of_us((us + slack) as u64),
        ));
    }
    assert_all_or_reported(
        "biosnoop lines for the writes",
        ranges.len(),
        IO_COUNT,
        &snoop_err,
        &snoop_out,
    );
    let skipped = reported_skips(&err) as u64;
    assert!(
        h.total() + skipped >= ranges.len() as u64,
        "at least the {} writes biosnoop saw:\n{lat_out}",
        ranges.len()
    );
    for lo in 1..64 {
        for hi in [lo, lo + 1] {
            let need = ranges.iter().filter(|(a, b)| *a >= lo && *b <= hi).count() as u64;
            let got: u64 = (lo..=hi).map(|s| h.get(s)).sum();
            assert!(
                got + skipped >= need,
                "buckets {lo}..={hi}: biolatency {got} < {need} writes biosnoop timed there\n{lat_out}\n{snoop_out}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(file.parent().unwrap());
}

#[test]
fn biolatency_interval_count_and_timestamps() {
    let Some(_g) = root_test("biolatency_interval_count_and_timestamps") else {
        return;
    };
    let (file, _disk) = io_file("biolatency-mt");
    preallocate(&file, IO_BS * 8);
    let tool = Tool::start("biolatency", &["-mT", "1", "2"], "Hit Ctrl-C");
    let dd = dd_named(
        file.parent().unwrap(),
        &format!("blm{}", std::process::id()),
    );
    direct_writes(&dd, &file, IO_BS, 8);
    let (code, out, err) = tool.finish();
    assert_eq!(code, 0, "{err}");
    // Two intervals, each: blank line, HH:MM:SS, then a msecs histogram (or nothing if idle).
    let stamps: Vec<_> = out
        .lines()
        .filter(|l| l.len() == 8 && l.as_bytes()[2] == b':' && l.as_bytes()[5] == b':')
        .collect();
    assert_eq!(stamps.len(), 2, "{out}");
    assert!(
        out.contains("     msecs               : count     distribution"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(file.parent().unwrap());
}

// host only: bad arguments, refused before anything loads
#[test]
fn bad_disk_and_pid_are_one_line_errors() {
    let Some(_g) = root_test("bad_disk_and_pid_are_one_line_errors") else {
        return;
    };
    let (code, out, err) = run(cmd("biolatency").args(["-d", "nosuchdisk0"]));
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("nosuchdisk0"), "{err}");
    // A pid that cannot exist (beyond pid_max).
    let (code, _, err) = run(cmd("runqlat").args(["-p", "2147483647", "1", "1"]));
    assert_eq!(code, 1);
    assert!(err.contains("-p 2147483647: no such process"), "{err}");
    let (code, _, err) = run(cmd("runqlen").arg("0"));
    assert_eq!(code, 2, "interval 0 is refused: {err}");
}

// ---------------------------------------------------------------------------------------------
// Scheduler workload: K spinners pinned to one CPU.

const SPIN_C: &str = r#"
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define MAXG 400000
struct th { pthread_t t; long nivcsw, nvcsw, start, end; int n; long *gs, *gd; };
static atomic_int stop;
static int cpu;

static long now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000000000L + t.tv_nsec; }

static void *spin(void *a) {
    struct th *t = a;
    cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu, &s);
    sched_setaffinity(0, sizeof s, &s);
    struct rusage r0, r1;
    getrusage(RUSAGE_THREAD, &r0);
    long last = now(); t->start = last;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        long x = now();
        if (x - last > 1000 && t->n < MAXG) { t->gs[t->n] = last; t->gd[t->n] = x - last; t->n++; }
        last = x;
    }
    t->end = last;
    getrusage(RUSAGE_THREAD, &r1);
    t->nivcsw = r1.ru_nivcsw - r0.ru_nivcsw;
    t->nvcsw = r1.ru_nvcsw - r0.ru_nvcsw;
    return 0;
}

static long *sortkey;
static int by_dur_desc(const void *a, const void *b) { long x = sortkey[*(int *)a], y = sortkey[*(int *)b]; return (y > x) - (y < x); }
static int by_int(const void *a, const void *b) { return *(int *)a - *(int *)b; }

int main(int argc, char **argv) {
    int k = atoi(argv[1]); cpu = atoi(argv[2]);
    char line[64];
    printf("ready\n"); fflush(stdout);
    if (!fgets(line, sizeof line, stdin)) return 1;
    struct th *ts = calloc(k, sizeof *ts);
    for (int i = 0; i < k; i++) {
        ts[i].gs = malloc(MAXG * sizeof(long)); ts[i].gd = malloc(MAXG * sizeof(long));
        pthread_create(&ts[i].t, 0, spin, &ts[i]);
    }
    printf("started\n"); fflush(stdout);
    fgets(line, sizeof line, stdin);
    atomic_store(&stop, 1);
    for (int i = 0; i < k; i++) pthread_join(ts[i].t, 0);
    /* The nivcsw longest gaps of each thread are its preemptions (interrupts are short);
       between them lie its on-CPU stretches (first and last stretch cut by start/stop). */
    printf("preempt_us");
    for (int i = 0; i < k; i++) {
        struct th *t = &ts[i];
        int *idx = malloc(t->n * sizeof(int));
        for (int j = 0; j < t->n; j++) idx[j] = j;
        sortkey = t->gd; qsort(idx, t->n, sizeof(int), by_dur_desc);
        int m = t->nivcsw < t->n ? t->nivcsw : t->n;
        for (int j = 0; j < m; j++) printf(" %ld", t->gd[idx[j]] / 1000);
        qsort(idx, m, sizeof(int), by_int);
        free(idx);
    }
    printf("\nrun_us");
    for (int i = 0; i < k; i++) {
        struct th *t = &ts[i];
        int *idx = malloc(t->n * sizeof(int));
        for (int j = 0; j < t->n; j++) idx[j] = j;
        sortkey = t->gd; qsort(idx, t->n, sizeof(int), by_dur_desc);
        int m = t->nivcsw < t->n ? t->nivcsw : t->n;
        qsort(idx, m, sizeof(int), by_int);
        for (int j = 1; j < m; j++) {
            long prev_end = t->gs[idx[j - 1]] + t->gd[idx[j - 1]];
            printf(" %ld", (t->gs[idx[j]] - prev_end) / 1000);
        }
        free(idx);
    }
    struct rusage r; getrusage(RUSAGE_SELF, &r);
    long niv = 0; for (int i = 0; i < k; i++) niv += ts[i].nivcsw;
    printf("\nswitches %ld %ld %ld\n", r.ru_nvcsw, r.ru_nivcsw, niv);
    fflush(stdout);
    return 0;
}
"#;

/// Build the spinner once per test run.
fn spinner() -> PathBuf {
    static EXE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    EXE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("lab-tools_hist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        compile_c(&dir, "labspin", SPIN_C, &["-O2", "-pthread"])
    })
    .clone()
}

/// K spinning threads pinned to one CPU, run as `wrapper... spinner K CPU`.
struct Spin(Workload);

/// What the spinner measured about itself.
#[derive(Debug)]
struct SpinReport {
    preempt_us: Vec<u64>,
    run_us: Vec<u64>,
    /// Voluntary + involuntary switches of the whole process (getrusage RUSAGE_SELF).
    switches: u64,
    /// Involuntary switches of the spinning threads.
    spinner_nivcsw: u64,
}

impl Spin {
    fn start(k: usize, cpu: usize) -> Spin {
        Spin::start_in(&[], k, cpu)
    }
    /// Run it under `wrapper` (a command and its arguments, e.g. `unshare --pid --fork`).
    fn start_in(wrapper: &[&str], k: usize, cpu: usize) -> Spin {
        let exe = spinner();
        let (prog, wrap_args) = match wrapper.split_first() {
            Some((p, rest)) => (Path::new(p), rest),
            None => (exe.as_path(), &[][..]),
        };
        let mut c = Command::new(prog);
        c.args(wrap_args);
        if !wrapper.is_empty() {
            c.arg(&exe);
        }
        c.args([k.to_string(), cpu.to_string()]);
        Spin(Workload::start(c))
    }
    fn pid(&self) -> u32 {
        self.0.pid()
    }
    fn go(&mut self) {
        self.0.send("go");
        assert_eq!(self.0.line(), "started");
    }
    fn finish(mut self) -> SpinReport {
        self.0.send("stop");
        let nums = |l: String, tag: &str| -> Vec<u64> {
            let rest = l
                .strip_prefix(tag)
                .unwrap_or_else(|| panic!("expected {tag}: {l}"));
            rest.split_whitespace()
                .map(|x| x.parse().unwrap())
                .collect()
        };
        let preempt_us = nums(self.0.line(), "preempt_us");
        let run_us = nums(self.0.line(), "run_us");
        let sw = nums(self.0.line(), "switches");
        self.0.wait();
        SpinReport {
            preempt_us,
            run_us,
            switches: sw[0] + sw[1],
            spinner_nivcsw: sw[2],
        }
    }
}

fn median(v: &[u64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    v[v.len() / 2] as f64
}

/// The CPU the spinners share: the highest one this process may run on.
fn spin_cpu() -> usize {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set),
            0
        );
        (0..libc::CPU_SETSIZE as usize)
            .rev()
            .find(|&c| libc::CPU_ISSET(c, &set))
            .unwrap()
    }
}

const SPINNERS: usize = 3;
const SPIN_FOR: Duration = Duration::from_millis(2500);

/// Run the spinner under `tool args` (filtered to its pid with `-p`), return the tool's
/// single histogram and the spinner's report.
fn under_tool(tool: &str, extra: &[&str]) -> (Hist, SpinReport, String) {
    let mut spin = Spin::start(SPINNERS, spin_cpu());
    let pid = spin.pid().to_string();
    let mut args = extra.to_vec();
    args.extend(["-p", &pid]);
    let t = Tool::start(tool, &args, "Hit Ctrl-C");
    spin.go();
    std::thread::sleep(SPIN_FOR);
    let report = spin.finish();
    let (code, out, err) = t.stop();
    assert_eq!(code, 0, "{err}");
    let hists = parse_hists(&out);
    assert_eq!(hists.len(), 1, "one histogram:\n{out}");
    (hists.into_values().next().unwrap(), report, out)
}

fn assert_close(what: &str, got: f64, want: f64, factor: f64, out: &str) {
    assert!(
        got <= want * factor && got >= want / factor,
        "{what}: tool says {got:.0}, workload measured {want:.0} (allowed factor {factor})\n{out}"
    );
}

/// Every switch-out of the spinner process's threads is followed by one wait in the run queue
/// (preempted, or woken), except those around its start and exit.
fn assert_one_wait_per_switch(what: &str, waits: u64, r: &SpinReport, out: &str) {
    assert!(
        r.spinner_nivcsw >= 20,
        "spinners sharing a CPU must be preempted: {r:?}"
    );
    let slack = 10 + r.switches / 10;
    assert!(
        waits + slack >= r.switches && waits <= r.switches + slack,
        "{what}: {waits} waits, the spinner process switched {} times\n{out}",
        r.switches
    );
}

#[test]
fn runqlat_matches_the_spinners_own_preemption_gaps() {
    let Some(_g) = root_test("runqlat_matches_the_spinners_own_preemption_gaps") else {
        return;
    };
    let (h, r, out) = under_tool("runqlat", &[]);
    eprintln!(
        "runqlat: {} waits, p50 {:.0} us; spinner: {} switches, median gap {:.0} us",
        h.total(),
        h.p50().unwrap_or(0.0),
        r.switches,
        median(&r.preempt_us)
    );
    assert_one_wait_per_switch("runqlat -p", h.total(), &r, &out);
    // The spinners dominate: the median wait is the median preemption gap they timed.
    assert_close(
        "median run queue latency (us)",
        h.p50().unwrap(),
        median(&r.preempt_us),
        2.0,
        &out,
    );
}

/// The inum of a process's PID namespace: /proc/PID/ns/pid reads "pid:[INUM]".
fn pidns_inum(pid: u32) -> String {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
    let link = link.to_string_lossy();
    link.strip_prefix("pid:[")
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or_else(|| panic!("/proc/{pid}/ns/pid -> {link}"))
        .to_owned()
}

/// The one process `pid` forked (what `unshare --fork` runs).
fn only_child(pid: u32) -> u32 {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    match children.split_whitespace().collect::<Vec<_>>()[..] {
        [one] => one.parse().unwrap(),
        _ => panic!("{pid} should have one child, has: {children:?}"),
    }
}

#[test]
fn runqlat_pidnss_sections_match_each_spinners_namespace() {
    let Some(_g) = root_test("runqlat_pidnss_sections_match_each_spinners_namespace") else {
        return;
    };
    // Two spinners share one CPU, so each preempts the other: one in this PID namespace, one
    // niced in a new one, so that its threads wait longer for the CPU than the host's.
    let cpu = spin_cpu();
    let mut host = Spin::start(SPINNERS, cpu);
    let wrapper = [
        "nice",
        "-n",
        "10",
        "unshare",
        "--pid",
        "--fork",
        "--kill-child",
    ];
    let mut inner = Spin::start_in(&wrapper, SPINNERS, cpu);
    let host_ns = pidns_inum(host.pid());
    let inner_ns = pidns_inum(only_child(inner.pid()));
    assert_ne!(host_ns, inner_ns, "unshare --pid made no new PID namespace");
    let t = Tool::start("runqlat", &["--pidnss"], "Hit Ctrl-C");
    host.go();
    inner.go();
    std::thread::sleep(SPIN_FOR);
    let (rh, ri) = (host.finish(), inner.finish());
    let (code, out, err) = t.stop();
    assert_eq!(code, 0, "{err}");
    let hists = parse_hists(&out);
    let section = |ns: &str| {
        hists
            .get(ns)
            .unwrap_or_else(|| panic!("no 'pidns = {ns}' section:\n{out}"))
    };
    let (h, i) = (section(&host_ns), section(&inner_ns));
    eprintln!(
        "runqlat --pidnss: pidns {host_ns} {} waits (its spinner preempted {} times), pidns {inner_ns} {} waits (its spinner switched {} times)",
        h.total(),
        rh.spinner_nivcsw,
        i.total(),
        ri.switches
    );
    assert!(
        rh.spinner_nivcsw >= 20,
        "spinners sharing a CPU must be preempted: {rh:?}"
    );
    // The new namespace holds only the inner spinner.
    assert_one_wait_per_switch(&format!("pidns {inner_ns}"), i.total(), &ri, &out);
    // Its waits are the ones its threads timed themselves (keying a wait by the task that ran
    // before, not the one that waited, would show the host spinner's shorter waits here).
    eprintln!(
        "pidns {inner_ns}: p50 {:.0} us, its spinner's median gap {:.0} us; host spinner's {:.0} us",
        i.p50().unwrap_or(0.0),
        median(&ri.preempt_us),
        median(&rh.preempt_us)
    );
    assert_close(
        "median run queue latency in the new PID namespace (us)",
        i.p50().unwrap_or(0.0),
        median(&ri.preempt_us),
        2.0,
        &out,
    );
    // The host namespace holds the host spinner's preemptions, among everything else.
    assert!(
        h.total() + 10 >= rh.spinner_nivcsw,
        "pidns {host_ns}: {} waits, its spinner alone was preempted {} times\n{out}",
        h.total(),
        rh.spinner_nivcsw
    );
}

#[test]
fn cpudist_matches_the_spinners_own_time_slices() {
    let Some(_g) = root_test("cpudist_matches_the_spinners_own_time_slices") else {
        return;
    };
    let (h, r, out) = under_tool("cpudist", &[]);
    eprintln!(
        "cpudist: {} periods, p50 {:.0} us; spinner: {} switches, median slice {:.0} us",
        h.total(),
        h.p50().unwrap_or(0.0),
        r.switches,
        median(&r.run_us)
    );
    assert!(r.run_us.len() >= 20, "{r:?}");
    // One on-CPU period per switch-out of the process's threads.
    let slack = 10 + r.switches / 10;
    assert!(
        h.total() + slack >= r.switches && h.total() <= r.switches + slack,
        "cpudist counted {} on-CPU periods, the process switched {} times\n{out}",
        h.total(),
        r.switches
    );
    assert_close(
        "median on-CPU time (us)",
        h.p50().unwrap(),
        median(&r.run_us),
        2.0,
        &out,
    );
}

/// procs_running from /proc/stat: the sum of every CPU's rq->nr_running, the kernel's own count.
fn procs_running() -> u64 {
    let s = std::fs::read_to_string("/proc/stat").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("procs_running "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn runqlen_sees_the_pinned_spinners_queue() {
    let Some(_g) = root_test("runqlen_sees_the_pinned_spinners_queue") else {
        return;
    };
    let cpu = spin_cpu();
    let mut spin = Spin::start(SPINNERS, cpu);
    spin.go();
    std::thread::sleep(Duration::from_millis(200)); // let every spinner reach its CPU
    let t = Tool::start("runqlen", &["-C"], "Hit Ctrl-C");
    // Meanwhile, sample the kernel's own total of runnable tasks.
    let mut totals = Vec::new();
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        totals.push(procs_running());
        std::thread::sleep(Duration::from_millis(10));
    }
    let (code, out, err) = t.stop();
    let _ = spin.finish();
    assert_eq!(code, 0, "{err}");
    let hists = parse_hists(&out);
    let mine = hists
        .get(&cpu.to_string())
        .unwrap_or_else(|| panic!("no 'cpu = {cpu}' section:\n{out}"));
    // K pinned spinners are always runnable there: K - 1 of them wait at every sample.
    let at_least: u64 = mine
        .slots
        .iter()
        .enumerate()
        .filter(|(len, _)| *len >= SPINNERS - 1)
        .map(|(_, n)| n)
        .sum();
    assert!(mine.total() >= 50, "99 Hz for over a second:\n{out}");
    assert!(
        at_least as f64 >= 0.9 * mine.total() as f64,
        "CPU {cpu}: {at_least} of {} samples show >= {} queued\n{out}",
        mine.total(),
        SPINNERS - 1
    );
    // Across CPUs: queued = runnable - running, so sum of mean queue lengths lies within
    // [procs_running - ncpu, procs_running] (with room for sampling noise).
    let ncpu = hists.len(); // every online CPU is sampled, so each has a section
    let queued: f64 = hists.values().map(|h| h.linear_mean().unwrap_or(0.0)).sum();
    let runnable = totals.iter().sum::<u64>() as f64 / totals.len() as f64;
    let noise = 1.0 + 0.15 * runnable;
    eprintln!("runqlen: cpu {cpu} {at_least}/{} samples >= {}; sum of mean queues {queued:.2}, procs_running {runnable:.2}", mine.total(), SPINNERS - 1);
    assert!(
        queued <= runnable + noise && queued >= runnable - ncpu as f64 - noise,
        "runqlen's queued tasks {queued:.2} vs the kernel's runnable {runnable:.2} on {ncpu} CPUs\n{out}"
    );
}
