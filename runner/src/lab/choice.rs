//! A choice question's answer: which of the lab's `choices` a student's words name. Every word
//! typed must fit the choice (give or take an ending), so "remove the cache" never takes
//! "add a cache"; `lab check` says which choice it took.

/// The index of the choice `s` names: its 1-based number, its text, or words that fit one
/// choice only ("eliminate the fsync per record", "async", "disk"). Err says why in a few words
/// (the caller lists the choices).
pub fn pick(s: &str, choices: &[String]) -> Result<usize, String> {
    let t = s.trim().trim_end_matches(['.', ')']).trim().to_lowercase();
    if let Ok(n) = t.trim_start_matches('#').parse::<usize>() {
        let n_choices = choices.len();
        return (1..=n_choices)
            .contains(&n)
            .then(|| n - 1)
            .ok_or_else(|| format!("there is no choice {n} (1-{n_choices})"));
    }
    let norm = |c: &str| {
        c.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    if let Some(i) = choices.iter().position(|c| norm(c) == norm(&t)) {
        return Ok(i);
    }
    let wanted = words(&t);
    let fits = |c: &String| {
        let have = words(c);
        !wanted.is_empty() && wanted.iter().all(|w| have.iter().any(|h| same_word(w, h)))
    };
    let mut hits: Vec<usize> = (0..choices.len()).filter(|i| fits(&choices[*i])).collect();
    if hits.is_empty() {
        hits = (0..choices.len())
            .filter(|i| choices[*i].to_lowercase().contains(&t))
            .collect();
    }
    match hits.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!("{s:?} matches none of the choices")),
        many => Err(format!(
            "{s:?} fits several choices ({})",
            many.iter()
                .map(|i| (i + 1).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// "1. faster disks, 2. tune the file system, ...".
pub fn list(choices: &[String]) -> String {
    choices
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{}. {c}", i + 1))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The words of an answer that carry meaning, lower case.
fn words(s: &str) -> Vec<String> {
    const FILLER: &[&str] = &[
        "a", "an", "the", "of", "to", "for", "by", "it", "its", "is", "be",
    ];
    s.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !FILLER.contains(w))
        .map(str::to_string)
        .collect()
}

/// The same word give or take an ending ("disk" / "disks", "async" / "asynchronous",
/// "caching" / "cache").
fn same_word(a: &str, b: &str) -> bool {
    let stem = |w: &str| -> String {
        ["ing", "es", "ed", "s"]
            .iter()
            .find_map(|e| w.strip_suffix(e).filter(|r| r.len() >= 3))
            .unwrap_or(w)
            .to_string()
    };
    let (a, b) = (stem(a), stem(b));
    a == b || (a.len() >= 3 && b.starts_with(&a)) || (b.len() >= 4 && a.starts_with(&b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn choices_by_number_text_or_words_of_one() {
        let choices: Vec<String> = [
            "faster disks",
            "tune the file system",
            "more I/O threads",
            "make the I/O asynchronous",
            "add a cache",
            "eliminate the sync (fsync/fdatasync) per record",
        ]
        .map(String::from)
        .to_vec();
        let pick = |a: &str| super::pick(a, &choices).map(|i| i + 1);
        for (a, want) in [
            ("6", 6),
            ("6.", 6),
            ("#2", 2),
            ("Faster Disks", 1),
            ("eliminate the fsync per record", 6),
            ("sync", 6),
            ("fdatasync", 6),
            ("async", 4),
            ("disk", 1),
            ("caching", 5),
            ("more threads", 3),
        ] {
            assert_eq!(pick(a), Ok(want), "{a}");
        }
        // Every word must fit: "remove the cache" is not "add a cache".
        assert!(pick("remove the cache").is_err());
        let none = pick("buy a bigger machine").unwrap_err();
        assert!(none.contains("matches none"), "{none}");
        let several = pick("I/O").unwrap_err();
        assert!(several.contains("several choices (3, 4)"), "{several}");
        assert!(pick("7").unwrap_err().contains("no choice 7"));
    }
}
