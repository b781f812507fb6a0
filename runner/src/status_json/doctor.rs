//! The doctor's verdict as `lab status` shows it: `lab doctor` (as root) keeps a copy where
//! `lab status` looks; provisioning's is in /var/log.
use super::DoctorDoc;
use crate::store;

/// Where `lab doctor` (as root) leaves its verdict for `lab status`; LAB_DOCTOR_FILE overrides.
pub fn doctor_file() -> std::path::PathBuf {
    std::env::var_os("LAB_DOCTOR_FILE")
        .filter(|f| !f.is_empty())
        .map(Into::into)
        .unwrap_or_else(|| "/var/lib/lab/doctor.json".into())
}

/// What provisioning's `lab doctor --json` wrote on a lab VM.
const PROVISION_DOCTOR: &str = "/var/log/lab-doctor.json";

/// The newest doctor report on this machine, summarised (cheap: a file read, no probes loaded).
pub fn doctor() -> Option<DoctorDoc> {
    let mut best: Option<DoctorDoc> = None;
    for path in [doctor_file(), PROVISION_DOCTOR.into()] {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let Some(all) = v["all_labs_runnable"].as_bool() else {
            continue;
        };
        let at = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        let failed = v["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["verdict"] == "fail")
            .filter_map(|c| c["check"].as_str().map(String::from))
            .collect();
        let doc = DoctorDoc {
            verdict: if all { "ok" } else { "fail" }.into(),
            all_labs_runnable: all,
            failed,
            at,
            source: path.display().to_string(),
        };
        if best.as_ref().is_none_or(|b| b.at < doc.at) {
            best = Some(doc);
        }
    }
    best
}

/// Keep a copy of a doctor report where `lab status` looks (only root can write there; a
/// failure just means `lab status` shows an older verdict). Not for an author's working copy
/// of the labs (LAB_LABS_DIR): that verdict is about those files, not about the labs this
/// machine's students run, and must not show up in `lab class` as the machine's.
pub fn save_doctor(json: &str) {
    if std::env::var_os("LAB_LABS_DIR").is_some_and(|d| !d.is_empty())
        && std::env::var_os("LAB_DOCTOR_FILE").is_none()
    {
        return;
    }
    let path = doctor_file();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = store::write_atomic(&path, json.as_bytes());
}
