//! `lab class up|down|ls`: the class's VMs on libvirt hosts (class::vms does the work).
use std::{
    io::{BufRead as _, IsTerminal as _, Write as _},
    path::PathBuf,
    process::ExitCode,
    time::Duration,
};

use crate::{
    class::{
        self,
        vms::{down, hosts, list, progress::Progress, up, ClassDir},
    },
    privilege::usage,
};

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Ready means: SSH answers with the class key, `cloud-init status` is done, and the \
VM's `lab doctor` verdict is ok. `up` again makes only what is missing, resumes after a kill, and makes \
again a VM that never became ready; a VM that was ready once is never replaced. Each student's VM is a \
qcow2 overlay on one copy of the base image per host, in the class's own storage pool (lab-CLASS).\n\n\
EXAMPLES:\n  lab class up --class class/ --students 24 --image debian-12-genericcloud-amd64.qcow2\n  \
lab class up --class class/ --students 40 --image debian-12.qcow2 \\\n      \
--hosts qemu+ssh://root@lab1/system,qemu+ssh://root@lab2/system --dry-run\n  \
lab class up --class class/                  # again: converge (after a failure or a kill)\n  \
lab class up --class class/ --students 2 --image \"$(provision/vm/build-image.sh)\""
)]
pub struct UpArgs {
    /// The class directory (provisioned here first when it holds no class)
    #[arg(long, value_name = "DIR")]
    class: PathBuf,
    /// Number of students (one VM each); must match DIR's roster when DIR holds a class
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=999))]
    students: Option<u16>,
    /// libvirt hosts, comma-separated [default: qemu:///system, or the hosts the class uses]
    #[arg(long, value_name = "URI,...")]
    hosts: Option<String>,
    /// Base image: a Debian 12/13 genericcloud .qcow2, or build-image.sh's directory
    #[arg(long, value_name = "FILE")]
    image: Option<PathBuf>,
    /// vCPUs per VM [default: 2]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    vcpus: Option<u32>,
    /// Memory per VM, e.g. 2G or 1536M [default: 2G]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory: Option<u64>,
    /// Disk per VM (a thin qcow2 overlay), e.g. 10G [default: 10G]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    disk: Option<u64>,
    /// libvirt network on every host [default: default]
    #[arg(long, value_name = "NAME")]
    network: Option<String>,
    /// KVM or TCG emulation
    #[arg(long, value_enum, default_value = "auto")]
    accel: hosts::AccelChoice,
    /// VMs made and booted at the same time
    #[arg(long, value_name = "K", default_value_t = 8)]
    concurrency: usize,
    /// Minutes each VM may take from start to ready
    #[arg(long, value_name = "MIN", default_value_t = 30)]
    timeout: u64,
    /// Show the plan (hosts, placement, room) and create nothing
    #[arg(long)]
    dry_run: bool,
    /// VM name prefix for a class provisioned here: PREFIX-01, ...
    #[arg(long, value_name = "NAME", default_value = "lab")]
    prefix: String,
    /// Instructor's SSH public key for a class provisioned here [default: a class key made in DIR]
    #[arg(long, value_name = "FILE")]
    ssh_key: Option<PathBuf>,
    /// Where the static lab, lab-workload and tools are [default: next to this lab]
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
#[command(
    after_help = "EXAMPLES:\n  lab class down --class class/\n  lab class down --class class/ --yes --keep-results results/"
)]
pub struct DownArgs {
    #[arg(long, value_name = "DIR")]
    class: PathBuf,
    /// Do not ask
    #[arg(long)]
    yes: bool,
    /// First collect every student's progress and answers into DIR (as `lab class collect`)
    #[arg(long, value_name = "DIR")]
    keep_results: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct LsArgs {
    #[arg(long, value_name = "DIR")]
    class: PathBuf,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

/// "2G", "1536M", "2GiB", "512MiB", "10g" -> bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}': give a size like 2G or 1536M"))?;
    let shift = match unit
        .to_ascii_lowercase()
        .trim_end_matches("ib")
        .trim_end_matches('b')
    {
        "g" => 30,
        "m" => 20,
        "t" => 40,
        _ => {
            return Err(format!(
                "'{s}': give a size like 2G or 1536M (units M, G, T)"
            ))
        }
    };
    n.checked_shl(shift)
        .filter(|b| *b > 0 && b >> shift == n)
        .ok_or_else(|| format!("'{s}': out of range"))
}

pub fn up_cmd(a: UpArgs) -> anyhow::Result<ExitCode> {
    if !(1..=256).contains(&a.concurrency) {
        return Err(usage(format!(
            "--concurrency {}: give 1 to 256",
            a.concurrency
        )));
    }
    if !(1..=24 * 60).contains(&a.timeout) {
        return Err(usage(format!(
            "--timeout {}: give minutes, 1 to 1440",
            a.timeout
        )));
    }
    if a.memory.is_some_and(|m| m < 512 << 20) {
        return Err(usage("--memory: at least 512M (the labs want 2G)"));
    }
    let opts = up::UpOptions {
        dir: a.class,
        students: a.students,
        hosts: a.hosts.as_deref().map(hosts::parse_hosts).transpose()?,
        image: a.image,
        vcpus: a.vcpus,
        memory_mib: a.memory.map(|b| b >> 20),
        disk_bytes: a.disk,
        network: a.network,
        accel: a.accel,
        concurrency: a.concurrency,
        dry_run: a.dry_run,
        timeout: Duration::from_secs(a.timeout * 60),
        prefix: a.prefix,
        ssh_key: a.ssh_key,
        bin_dir: a.bin_dir,
    };
    let progress = Progress::new();
    let o = up::up(&opts, &progress)?;
    if let Some(plan) = o.plan {
        print!("{plan}");
        return Ok(ExitCode::SUCCESS);
    }
    let dir = opts.dir.display();
    println!(
        "{} of {} VMs ready ({} made now) in {}: roster and cards in {dir} (cards.html, roster.csv)",
        o.ready.len(),
        o.ready.len() + o.failed.len(),
        o.created,
        class::vms::progress::mmss(progress.elapsed()),
    );
    if o.failed.is_empty() {
        println!("During class: lab class watch --class {dir}");
        return Ok(ExitCode::SUCCESS);
    }
    for (s, why) in &o.failed {
        eprintln!("lab: {s}: not ready: {why}");
    }
    eprintln!(
        "lab: {} VMs not ready (marked NOT READY on the cards); run `lab class up --class {dir}` again to make them again",
        o.failed.len()
    );
    Ok(ExitCode::from(1))
}

pub fn down_cmd(a: DownArgs) -> anyhow::Result<ExitCode> {
    let class = ClassDir::open(&a.class)?;
    let s = down::survey(class)?;
    for h in &s.hosts {
        match &h.virsh {
            Ok(_) => println!(
                "{}: {} domains ({}), pool {}",
                h.uri,
                h.domains.len(),
                h.domains.join(" "),
                h.pool
                    .as_deref()
                    .map_or("none".into(), |p| format!("{p} ({} volumes)", h.volumes))
            ),
            Err(e) => println!("{}: unreachable ({e})", h.uri),
        }
    }
    if !a.yes
        && !confirm(&format!(
            "Remove these {} VMs and their disks? Students' work on them is lost.",
            s.domain_count()
        ))?
    {
        println!("Nothing removed.");
        return Ok(ExitCode::from(1));
    }
    if let Some(out) = &a.keep_results {
        keep_results(&s.class, out)?;
    }
    down::remove(&s, &|line| println!("{line}"))?;
    println!("Class {} is down.", s.journal.class_name);
    Ok(ExitCode::SUCCESS)
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(usage(format!(
            "{question} Not asked (stdin is not a terminal): pass --yes"
        )));
    }
    print!("{question} Type yes to go on: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim().eq_ignore_ascii_case("yes"))
}

fn keep_results(c: &ClassDir, out: &std::path::Path) -> anyhow::Result<()> {
    let targets = class::roster::load(&c.dir.join(class::roster::ROSTER_FILE))?;
    let opts = c.ssh_options()?;
    let mut rows = class::poll(&targets, &opts);
    class::row::sort(&mut rows);
    class::collect::collect(&rows, out)?;
    let missing = rows.iter().filter(|r| r.status.is_none()).count();
    println!(
        "Kept {} of {} students' results in {}",
        rows.len() - missing,
        rows.len(),
        out.display()
    );
    Ok(())
}

pub fn ls_cmd(a: LsArgs) -> anyhow::Result<ExitCode> {
    let class = ClassDir::open(&a.class)?;
    let rows = list::rows(&class)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<12} {:<16} {:<10} {:<16} up",
        "student", "host", "state", "address"
    );
    for r in &rows {
        println!(
            "{:<12} {:<16} {:<10} {:<16} {}",
            r.student,
            r.host,
            r.state,
            r.address.as_deref().unwrap_or("-"),
            r.up
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_as_instructors_write_them() {
        use super::parse_size;
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1536M"), Ok(1536 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("10g"), Ok(10 << 30));
        assert!(parse_size("2").is_err() && parse_size("G").is_err() && parse_size("2X").is_err());
    }
}
