//! Grading a traced lab's answers: reading them (given.rs, answer.rs), judging them against what
//! the lab's checker measured and the session's recording (grade.rs), keeping the result in the
//! student's progress (progress.rs), and the reference run `lab dev check` makes (reference.rs).
pub mod answer;
mod check;
pub mod given;
pub mod grade;
pub mod progress;
pub mod reference;

pub use check::{check, Checked};
pub use grade::{grade, Graded};
