//! `lab solution 4c --instructor`: the reference .bt of a bpftrace exercise (labs 4-5). Hidden
//! from `lab --help` and refused without --instructor: not part of a student's normal flow.
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Exercise with a reference solution (a file labs/solutions/ID.bt), e.g. 4a
    pub exercise: String,
    /// Confirms you are the instructor (students: `lab hint` first)
    #[arg(long)]
    pub instructor: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.instructor {
        return Err(crate::privilege::usage(format!(
            "reference solutions are for instructors: lab solution {} --instructor (students: try `lab hint`)",
            args.exercise
        )));
    }
    let Some(src) = crate::exercises::solution(&args.exercise) else {
        let ids: Vec<String> = crate::exercises::solutions()?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        return Err(crate::privilege::usage(format!(
            "no reference solution for exercise {:?} (exercises with one: {})",
            args.exercise,
            ids.join(", ")
        )));
    };
    print!("{src}");
    Ok(ExitCode::SUCCESS)
}
