//! tcpretrans's user half: tcp:tcp_retransmit_skb, and with `tlp` a kprobe on
//! tcp_send_loss_probe where the kernel has kprobes.
use anyhow::{bail, Context as _, Result};
use aya::programs::KProbe;
use lab_probes_common::tcp::{TcpEvent, TcpTpOffsets};

use crate::{
    btf::Btf,
    capabilities,
    events::{self, Record, Snoop},
    requirements::Tracepoint,
    tcp::{self, Tcp},
    tracefs,
};

pub const TRACEPOINTS: &[Tracepoint] = &[("tcp", "tcp_retransmit_skb")];

/// The hooks, for headers and `-v`.
pub const HOOK: &str = "tracepoint tcp:tcp_retransmit_skb";
pub const TLP_HOOK: &str = "kprobe tcp_send_loss_probe";

/// The function `-l` probes.
pub const TLP_FUNCTION: &str = "tcp_send_loss_probe";

/// One retransmission (or tail loss probe).
#[derive(Debug, Clone)]
pub struct Retrans(pub Tcp);

impl Retrans {
    /// A tail loss probe rather than a retransmission.
    pub fn is_tlp(&self) -> bool {
        self.0.kind == lab_probes_common::tcp::RETRANS_KIND_TLP
    }
}

pub type TcpRetrans = Snoop<Retrans>;

/// Why `-l` cannot run here, or None when it can (kprobes compiled in).
pub fn tlp_unavailable() -> Option<String> {
    (!capabilities::kprobes_compiled_in()).then(|| {
        format!(
            "-l needs a kprobe on {TLP_FUNCTION} (tail loss probes have no tracepoint) and this \
             kernel is built without CONFIG_KPROBES; the lab VMs (Debian 12/13) have kprobes"
        )
    })
}

impl Snoop<Retrans> {
    pub fn attach(tlp: bool) -> Result<Self> {
        if tlp {
            if let Some(why) = tlp_unavailable() {
                bail!(why);
            }
        }
        let root = events::require_tracepoints(TRACEPOINTS)?;
        let f = |name: &str| tracefs::field_offset(&root, "tcp", "tcp_retransmit_skb", name);
        let tp = TcpTpOffsets {
            skaddr: f("skaddr")?,
            newstate: f("state")?,
            sport: f("sport")?,
            dport: f("dport")?,
            family: f("family")?,
            saddr: f("saddr")?,
            daddr: f("daddr")?,
            saddr_v6: f("saddr_v6")?,
            daddr_v6: f("daddr_v6")?,
            ..TcpTpOffsets::ZERO
        };
        let sock = if tlp {
            tcp::sock_offsets(&Btf::vmlinux()?)?
        } else {
            Default::default()
        };
        let mut bpf = crate::loader::load_with("tcpretrans", |l| {
            l.override_global("TP", &tp, true)
                .override_global("SOCK", &sock, true);
        })?;
        events::attach_tracepoint(&mut bpf, "tcpretrans", "tcp", "tcp_retransmit_skb")?;
        if tlp {
            let p: &mut KProbe = bpf
                .program_mut("tcpretrans_tlp")
                .context("program tcpretrans_tlp missing from object")?
                .try_into()?;
            p.load().context("verifier rejected tcpretrans_tlp")?;
            p.attach(TLP_FUNCTION, 0)
                .with_context(|| format!("attaching a kprobe to {TLP_FUNCTION}"))?;
        }
        Snoop::new(bpf)
    }
}

impl Record for Retrans {
    type Raw = TcpEvent;
    const PROBE: &'static str = "tcpretrans";
    fn from_raw(ev: &TcpEvent) -> Self {
        Retrans(Tcp::from_event(ev))
    }
}
