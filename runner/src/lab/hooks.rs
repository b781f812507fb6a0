//! What `lab dev check` asks the checker (runner/src/commands/check.rs, helper "labs"): whether
//! a metric exists, and a run of a lab's reference answers.
use super::Lab;

/// True when the checker can measure `metric` for `lab`.
pub fn metric_known(lab: &Lab, metric: &str) -> bool {
    crate::commands::check::metric_known(lab, metric)
}

/// Run the lab's reference answers through the checker; Ok(None) = no automatic run.
pub fn reference_run(lab: &Lab) -> anyhow::Result<Option<String>> {
    crate::commands::check::reference_run(lab)
}
