//! Instructor provisioning: per-student lab VMs from cloud-init, and the same setup for the
//! machine `lab` runs on. Templates live in provision/templates/ (embedded at build time).
pub mod class;
pub mod password;
pub mod payload;
pub mod roster;
pub mod secret;
pub mod templates;

/// The account students log in as, on every VM.
pub const STUDENT_USER: &str = "student";
// apt packages the labs need beyond `lab` itself: group `lab` of provision/packages.txt (the one
// list; runner/build.rs turns it into `PACKAGES`).
include!(concat!(env!("OUT_DIR"), "/packages.rs"));
/// Where `lab`, `lab-workload` and the tools go on a lab machine (on PATH and in sudo's secure_path).
pub const INSTALL_DIR: &str = "/usr/local/bin";
/// What a student runs first after logging in (printed on the card).
pub const FIRST_COMMAND: &str = "sudo lab start 1";
