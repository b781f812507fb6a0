//! BCC's probe specs, compiled for the probe VM (lab_probes_common::vm): the syntax of trace
//! (`[p|r|t|u]:[lib]:func[(filter)] "format", args`) and argdist
//! (`p::tcp_sendmsg(struct sock *sk, struct msghdr *msg, size_t size):u32:size`), typed from
//! kernel BTF and tracepoint format files, so no headers or compiler are needed at run time.
pub mod compile;
pub mod ctype;
pub mod format;
pub mod lex;
pub mod parse;
pub mod scope;
pub mod spec;
pub mod target;

/// A problem in a spec, at byte `pos` of it. Tools print it as one line naming the spec and the
/// column (see [`SpecError::in_spec`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub pos: usize,
    pub msg: String,
}

impl SpecError {
    pub fn at(pos: usize, msg: impl Into<String>) -> Self {
        Self {
            pos,
            msg: msg.into(),
        }
    }

    /// The one-line message for spec `spec`: "probe 'SPEC', column N: MSG".
    pub fn in_spec(&self, spec: &str) -> String {
        let col = spec[..self.pos.min(spec.len())].chars().count() + 1;
        format!("probe '{spec}', column {col}: {}", self.msg)
    }
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at byte {}: {}", self.pos, self.msg)
    }
}
impl std::error::Error for SpecError {}
