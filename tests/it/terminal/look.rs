//! What a screen must look like: lines within the terminal's width, no raw markdown, tables
//! whose columns line up.

/// No line wider than `width` columns (tmux joined the lines the terminal wrapped, so a line
/// that overflowed shows up here as a long one).
pub fn fits(text: &str, width: usize, what: &str) {
    for line in text.lines() {
        let w = line.trim_end().chars().count();
        assert!(
            w <= width,
            "{what}: a line of {w} columns in {width}:\n{line}\n---\n{text}"
        );
    }
}

/// No markdown left for the reader to decode: backticks, `**`, table pipes.
pub fn no_markup(text: &str, what: &str) {
    for marker in ["`", "**", "|"] {
        assert!(
            !text.contains(marker),
            "{what}: raw {marker:?} on screen:\n{text}"
        );
    }
}

/// No escape sequences: plain text.
pub fn plain(text: &str, what: &str) {
    assert!(
        !text.contains('\x1b'),
        "{what}: escape sequences in plain output:\n{text:?}"
    );
}

/// The table whose header has these cells (in order): every cell of every row starts in its
/// header's column, with a blank gutter before it, and the header is underlined.
pub fn grid(text: &str, header: &[&str], what: &str) {
    let lines: Vec<Vec<char>> = text.lines().map(|l| l.chars().collect()).collect();
    let at = lines
        .iter()
        .position(|l| {
            let s: String = l.iter().collect();
            s.trim_start().starts_with(header[0]) && header.iter().all(|h| s.contains(h))
        })
        .unwrap_or_else(|| panic!("{what}: no table with header {header:?}:\n{text}"));
    let head: String = lines[at].iter().collect();
    let mut starts = Vec::new();
    let mut from = 0;
    for h in header {
        let byte = head[from..]
            .find(h)
            .unwrap_or_else(|| panic!("{what}: {h} in {head}"))
            + from;
        starts.push(head[..byte].chars().count());
        from = byte + h.len();
    }
    let rule = lines
        .get(at + 1)
        .map(|l| l.iter().collect::<String>())
        .unwrap_or_default();
    assert!(
        !rule.trim().is_empty() && rule.trim().chars().all(|c| c == '─'),
        "{what}: the header is not underlined:\n{text}"
    );
    let rows: Vec<&Vec<char>> = lines[at + 2..]
        .iter()
        .take_while(|l| !l.iter().all(|c| c.is_whitespace()))
        .collect();
    assert!(!rows.is_empty(), "{what}: a table without rows:\n{text}");
    let ends: Vec<usize> = starts
        .iter()
        .zip(header)
        .map(|(s, h)| s + h.chars().count())
        .collect();
    let blank = |row: &[char], i: usize| row.get(i).is_none_or(|c| *c == ' ');
    for row in &rows {
        let s: String = row.iter().collect();
        for (k, (&start, &end)) in starts.iter().zip(&ends).enumerate() {
            if (start..end).all(|i| blank(row, i)) {
                continue; // an empty cell, or a wrapped line of the other columns
            }
            // Left-aligned under the header's first letter, or right-aligned to its last,
            // with a blank gutter on the outer side.
            let left = !blank(row, start) && (start == 0 || blank(row, start - 1));
            let right = !blank(row, end - 1) && blank(row, end);
            assert!(
                left || right,
                "{what}: column {k} ({}) not aligned on:\n{s}\n{head}\n---\n{text}",
                header[k]
            );
        }
    }
}

/// Every bordered table (╭ ... ╰) has lines of one width with its column borders in line.
pub fn bordered(text: &str, what: &str) -> usize {
    let lines: Vec<Vec<char>> = text
        .lines()
        .map(|l| l.trim_end().chars().collect())
        .collect();
    let mut tables = 0;
    let mut i = 0;
    while i < lines.len() {
        let Some(left) = lines[i].iter().position(|c| *c == '╭') else {
            i += 1;
            continue;
        };
        let top = &lines[i];
        let joints: Vec<usize> = (0..top.len()).filter(|&j| top[j] == '┬').collect();
        let mut j = i;
        loop {
            let l = &lines[j];
            let s: String = l.iter().collect();
            assert_eq!(
                l.len(),
                top.len(),
                "{what}: table line of another width:\n{s}\n---\n{text}"
            );
            for &k in &joints {
                assert!(
                    "┬┆│╪┼┴".contains(l[k]),
                    "{what}: column border not in line:\n{s}\n---\n{text}"
                );
            }
            assert!(
                "╭│╞├╰".contains(l[left]),
                "{what}: left border not in line:\n{s}"
            );
            if l[left] == '╰' {
                break;
            }
            j += 1;
            assert!(j < lines.len(), "{what}: table not closed:\n{text}");
        }
        tables += 1;
        i = j + 1;
    }
    tables
}
