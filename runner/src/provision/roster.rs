//! The instructor's copies of the credentials: a roster (CSV) and printable login cards (HTML,
//! several per A4 page). Both hold plain passwords, so both are written mode 0600.
use std::path::Path;

use serde::Serialize;

use super::{secret, templates, FIRST_COMMAND};

/// Cards per A4 page: 2 columns x 4 rows of 95 x 67 mm.
pub const CARDS_PER_PAGE: usize = 8;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Student {
    /// VM name and host name, e.g. lab-07.
    pub name: String,
    /// What students type after `ssh student@`.
    pub host: String,
    pub user: String,
    pub password: String,
    #[serde(skip)]
    pub password_hash: String,
    pub instance_id: String,
    /// The libvirt host a VM on a private network is reached through (`lab class up` on a
    /// `qemu+ssh://` host); empty when `host` is reachable directly.
    pub via: String,
    /// Why this VM is not ready to be handed out (printed across its card); empty when it is.
    pub not_ready: String,
}

pub fn write_csv(students: &[Student], path: &Path) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["name", "host", "user", "password", "instance_id", "via"])?;
    for s in students {
        w.write_record([
            &s.name,
            &s.host,
            &s.user,
            &s.password,
            &s.instance_id,
            &s.via,
        ])?;
    }
    secret::write_atomic(path, &w.into_inner()?)
}

/// The roster as written (passwords included: `lab class up` rewrites it and the cards).
pub fn read_csv(path: &Path) -> anyhow::Result<Vec<Student>> {
    use anyhow::Context as _;
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers = r.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.with_context(|| format!("{} row {}", path.display(), i + 2))?;
        let get = |name: &str| {
            col(name)
                .and_then(|c| rec.get(c))
                .unwrap_or("")
                .trim()
                .to_string()
        };
        out.push(Student {
            name: get("name"),
            host: get("host"),
            user: get("user"),
            password: get("password"),
            instance_id: get("instance_id"),
            via: get("via"),
            ..Student::default()
        });
    }
    Ok(out)
}

pub fn render_cards(students: &[Student], prefix: &str) -> anyhow::Result<String> {
    templates::render(
        "cards.html",
        minijinja::context! {
            cards => students,
            per_page => CARDS_PER_PAGE,
            prefix => prefix,
            first_command => FIRST_COMMAND,
        },
    )
}

pub fn write_cards(students: &[Student], prefix: &str, path: &Path) -> anyhow::Result<()> {
    secret::write(path, render_cards(students, prefix)?.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn students(n: usize) -> Vec<Student> {
        (1..=n)
            .map(|i| Student {
                name: format!("lab-{i:02}"),
                host: format!("lab-{i:02}.example.org"),
                user: "student".into(),
                password: super::super::password::generate(),
                password_hash: String::new(),
                instance_id: format!("iid-{i}"),
                ..Student::default()
            })
            .collect()
    }

    #[test]
    fn cards_fill_pages_of_eight() {
        for n in [1, 8, 9, 20] {
            let ss = students(n);
            let html = render_cards(&ss, "lab").unwrap();
            let pages: Vec<&str> = html.split("<section class=\"page\">").skip(1).collect();
            assert_eq!(pages.len(), n.div_ceil(CARDS_PER_PAGE), "{n} students");
            for (i, page) in pages.iter().enumerate() {
                let expect = (n - i * CARDS_PER_PAGE).min(CARDS_PER_PAGE);
                assert_eq!(
                    page.matches("<div class=\"card\">").count(),
                    expect,
                    "page {i} of {n}"
                );
            }
            for s in &ss {
                assert!(
                    html.contains(&s.password) && html.contains(&format!("ssh student@{}", s.host))
                );
            }
            assert!(html.contains(FIRST_COMMAND));
        }
    }

    #[test]
    fn card_values_are_html_escaped() {
        let mut ss = students(1);
        ss[0].host = "<script>x</script>".into();
        let html = render_cards(&ss, "lab").unwrap();
        assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"));
    }

    #[test]
    fn roster_and_cards_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("lab-roster-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (csv_path, html_path) = (dir.join("roster.csv"), dir.join("cards.html"));
        // A pre-existing world-readable file must end up 0600 too.
        std::fs::write(&csv_path, "old").unwrap();
        std::fs::set_permissions(&csv_path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let ss = students(3);
        write_csv(&ss, &csv_path).unwrap();
        write_cards(&ss, "lab", &html_path).unwrap();
        for p in [&csv_path, &html_path] {
            assert_eq!(
                std::fs::metadata(p).unwrap().permissions().mode() & 0o777,
                0o600,
                "{}",
                p.display()
            );
        }
        let rows: Vec<csv::StringRecord> = csv::Reader::from_path(&csv_path)
            .unwrap()
            .records()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(&rows[1][3], ss[1].password);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
