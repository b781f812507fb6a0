//! After class: every student's progress and answers as files (`lab class collect`, and
//! `lab class down --keep-results` before the VMs go).
use std::path::Path;

use anyhow::Context as _;

use super::Row;

/// NAME.json per student (their VM's answer, or why there is none), answers.csv, summary.csv.
pub fn collect(rows: &[Row], out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("--out {}: cannot create it", out.display()))?;
    let mut answers = csv::Writer::from_writer(Vec::new());
    answers.write_record([
        "name", "lab", "question", "answer", "passed", "measured", "at",
    ])?;
    let mut by_name = rows.to_vec();
    by_name.sort_by(|a, b| a.name.cmp(&b.name));
    let mut taken = std::collections::BTreeSet::new();
    for r in &by_name {
        // Two names that make one file name ("ann lee", "ann_lee") get -2, -3, ...: none is lost.
        let base = safe_name(&r.name);
        let mut stem = base.clone();
        for n in 2.. {
            if taken.insert(stem.clone()) {
                break;
            }
            stem = format!("{base}-{n}");
        }
        let file = out.join(format!("{stem}.json"));
        std::fs::write(&file, serde_json::to_string_pretty(r)?)
            .with_context(|| format!("writing {}", file.display()))?;
        for l in r.status.iter().flat_map(|s| &s.labs) {
            for a in &l.answers {
                answers.write_record([
                    r.name.as_str(),
                    &l.id.to_string(),
                    &a.id,
                    &a.answer,
                    &a.passed.to_string(),
                    &a.measured,
                    &a.at.to_string(),
                ])?;
            }
        }
    }
    for (name, bytes) in [
        ("answers.csv", answers.into_inner()?),
        ("summary.csv", super::view::csv(&by_name)?),
    ] {
        let p = out.join(name);
        std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

/// A roster name as a file name: nothing that climbs out of --out.
pub fn safe_name(name: &str) -> String {
    let safe = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_string();
    if safe.is_empty() {
        "student".into()
    } else {
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_in_out_and_none_is_lost() {
        assert_eq!(safe_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_name("..."), "student");
        assert_eq!(safe_name("ann lee"), "ann_lee");
        let out = std::env::temp_dir().join(format!("lab-collect-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let row = |name: &str| {
            Row::new(&crate::class::Target {
                name: name.into(),
                host: "h".into(),
                user: "u".into(),
                via: None,
            })
        };
        collect(&[row("ann lee"), row("ann_lee"), row("ann?lee")], &out).unwrap();
        let mut files: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(
            files,
            [
                "ann_lee-2.json",
                "ann_lee-3.json",
                "ann_lee.json",
                "answers.csv",
                "summary.csv"
            ]
        );
        std::fs::remove_dir_all(&out).unwrap();
    }
}
