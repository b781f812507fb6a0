//! `lab slides`: the deck rendered by the real binary, opened in headless Chromium and driven with
//! key presses; rendering errors name file:line; the server answers on 127.0.0.1.
//! Screenshots and a PDF are kept in target/slides-artifacts/ for a human to look at.
pub(crate) mod cdp;

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex, MutexGuard,
    },
};

use lab_tests::{bin_dir, cmd, run};
use serde_json::{json, Value};

fn slides_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../slides")
}

fn artifacts() -> PathBuf {
    let dir = bin_dir()
        .parent()
        .expect("target dir")
        .join("slides-artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

/// A fresh, unique temporary path (tests run in parallel), removed when dropped.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}
impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}
impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let dir =
        std::env::temp_dir().join(format!("lab-slides-test-{}-{n}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Scratch(dir)
}

/// Count slides and discussion slides straight from the markdown, independently of the renderer:
/// `---` lines outside code fences separate slides; `!discussion` marks one.
fn count_markdown_slides() -> (usize, usize) {
    let (mut slides, mut discussion) = (0, 0);
    let mut files: Vec<PathBuf> = std::fs::read_dir(slides_dir())
        .expect("slides/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md") && !p.ends_with("README.md"))
        .collect();
    files.sort();
    for f in files {
        let mut fenced = false;
        slides += 1;
        for line in std::fs::read_to_string(&f)
            .expect("read slide file")
            .lines()
        {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
            } else if !fenced && line.trim_end() == "---" {
                slides += 1;
            } else if !fenced && line.trim_end() == "!discussion" {
                discussion += 1;
            }
        }
    }
    (slides, discussion)
}

/// Chromium (one at a time: each is heavy on 2 CPUs), or None, printing why, when it is
/// missing outside CI. Keep the guard alive as long as the browser.
pub(crate) fn browser_or_skip(test: &str) -> Option<(MutexGuard<'static, ()>, cdp::Browser)> {
    static ONE_BROWSER: Mutex<()> = Mutex::new(());
    match cdp::chromium() {
        Some(bin) => {
            let guard = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
            Some((guard, cdp::Browser::launch(&bin, 1280, 720)))
        }
        None if std::env::var_os("CI").is_some() => {
            panic!("{test}: chromium is not installed; provision/setup.sh --deps installs it")
        }
        None => {
            eprintln!("SKIPPED {test}: chromium not installed (sudo provision/setup.sh --deps)");
            None
        }
    }
}

fn render_deck(extra: &[&str]) -> Scratch {
    let out = scratch("deck");
    let (code, stdout, stderr) = run(cmd("lab").args(["slides", "--out"]).arg(&out).args(extra));
    assert_eq!(code, 0, "lab slides --out failed:\n{stdout}{stderr}");
    out
}

/// State of the deck as the user sees it.
fn state(b: &mut cdp::Browser) -> Value {
    b.eval(
        "(() => { const c = deck.current(); return { index: deck.index(), visible: deck.visibleCount(), \
         id: c.id, discussion: c.classList.contains('discussion'), num: c.querySelector('.num').textContent, \
         shown: getComputedStyle(c).display !== 'none' && c.getBoundingClientRect().width > 0 }; })()",
    )
}

#[test]
fn deck_navigates_counts_and_hides_discussion_in_chromium() {
    let (n, d) = count_markdown_slides();
    assert!(
        n > 20 && d >= 3,
        "the deck should have content: {n} slides, {d} discussion"
    );
    let out = render_deck(&[]);
    let Some((_one, mut b)) =
        browser_or_skip("deck_navigates_counts_and_hides_discussion_in_chromium")
    else {
        return;
    };
    let url = format!("file://{}", out.join("index.html").display());
    let shots = artifacts();
    b.open(&url);

    assert_eq!(
        b.eval("document.querySelectorAll('section.slide').length"),
        json!(n),
        "slides in the DOM"
    );
    assert_eq!(
        b.eval("document.querySelectorAll('section.slide.discussion').length"),
        json!(d)
    );
    // Self-contained: nothing fetched from elsewhere, every image present and decoded.
    let remote = b.eval(
        "[...document.querySelectorAll('link[href],script[src],img[src]')]\
         .map(e => e.getAttribute('href') || e.getAttribute('src'))\
         .filter(u => /^[a-z]+:/i.test(u) || u.startsWith('//'))",
    );
    assert_eq!(remote, json!([]), "the deck must not load anything remote");
    let images = b.eval("[...document.images].map(i => i.complete && i.naturalWidth > 0)");
    let images = images.as_array().expect("array");
    assert!(
        !images.is_empty() && images.iter().all(|ok| ok == &json!(true)),
        "images load from the folder: {images:?}"
    );
    let without_notes = b.eval(
        "[...document.querySelectorAll('section.slide')]\
         .filter(s => !s.querySelector('.notes').textContent.trim()).map(s => s.dataset.source)",
    );
    assert_eq!(without_notes, json!([]), "every slide has speaker notes");
    let visible = n - d;
    let s = state(&mut b);
    assert_eq!(
        s["visible"],
        json!(visible),
        "discussion slides must be hidden until revealed"
    );
    assert_eq!(
        s["num"],
        json!(format!("1 / {visible}")),
        "slide number on the first slide"
    );
    b.screenshot(&shots.join("01-title.png"));

    // Walk the whole deck with the keyboard: every visible slide once, never a discussion slide.
    let mut seen = vec![s["id"].as_str().unwrap().to_string()];
    for i in 1..visible {
        b.key(if i % 2 == 0 { " " } else { "ArrowRight" });
        let s = state(&mut b);
        assert_eq!(s["index"], json!(i), "after {i} presses");
        assert_eq!(
            s["discussion"],
            json!(false),
            "a discussion slide was shown before being revealed: {s}"
        );
        assert_eq!(s["shown"], json!(true), "current slide not displayed: {s}");
        assert_eq!(s["num"], json!(format!("{} / {visible}", i + 1)));
        seen.push(s["id"].as_str().unwrap().to_string());
    }
    seen.dedup();
    assert_eq!(seen.len(), visible, "each visible slide exactly once");
    b.key("ArrowRight");
    assert_eq!(
        state(&mut b)["index"],
        json!(visible - 1),
        "stays on the last slide"
    );
    b.key("Home");
    assert_eq!(state(&mut b)["index"], json!(0), "Home");
    b.key("End");
    assert_eq!(state(&mut b)["index"], json!(visible - 1), "End");
    b.key("ArrowLeft");
    assert_eq!(state(&mut b)["index"], json!(visible - 2), "ArrowLeft");

    // Instructor reveals the discussion slides with `r`: now reachable by the keyboard.
    b.key("Home");
    b.key("r");
    assert_eq!(
        state(&mut b)["visible"],
        json!(n),
        "all slides visible after r"
    );
    let mut found = None;
    for _ in 0..n {
        b.key("ArrowRight");
        let s = state(&mut b);
        if s["discussion"] == json!(true) {
            assert_eq!(s["shown"], json!(true));
            found = Some(s);
            break;
        }
    }
    let found = found.expect("a discussion slide is reachable after revealing");
    b.screenshot(&shots.join("03-discussion-revealed.png"));
    b.key("r");
    let s = state(&mut b);
    assert_eq!(
        s["visible"],
        json!(visible),
        "hidden again after a second r"
    );
    assert_eq!(
        s["discussion"],
        json!(false),
        "left the discussion slide {found} when hiding"
    );

    // Speaker notes view.
    b.key("n");
    let notes = b.eval(
        "(() => ({ on: document.body.classList.contains('notes-view'), \
         panel: getComputedStyle(document.getElementById('presenter')).display, \
         text: document.getElementById('notes-text').textContent.trim(), \
         expected: deck.current().querySelector('.notes').textContent.trim() }))()",
    );
    assert_eq!(notes["on"], json!(true));
    assert_ne!(notes["panel"], json!("none"), "notes panel shown");
    assert_eq!(
        notes["text"], notes["expected"],
        "notes panel shows the current slide's notes"
    );
    assert!(
        !notes["text"].as_str().unwrap().is_empty(),
        "slide has speaker notes"
    );
    b.screenshot(&shots.join("04-notes-view.png"));
    b.key("n");

    // ?reveal starts with everything visible.
    b.open(&format!("{url}?reveal"));
    assert_eq!(
        state(&mut b)["visible"],
        json!(n),
        "?reveal shows discussion slides"
    );
    // ?notes starts in the speaker notes view (for the presenter's own screen).
    b.open(&format!("{url}?notes"));
    assert_eq!(
        b.eval("deck.notes()"),
        json!(true),
        "?notes opens the notes view"
    );
    assert_eq!(
        state(&mut b)["visible"],
        json!(visible),
        "?notes alone reveals nothing"
    );
}

#[test]
fn tool_output_keeps_its_columns_in_chromium() {
    let out = render_deck(&["--reveal"]);
    let Some((_one, mut b)) = browser_or_skip("tool_output_keeps_its_columns_in_chromium") else {
        return;
    };
    b.open(&format!("file://{}", out.join("index.html").display()));
    // For every block of tool output with a histogram: show its slide, then measure. A wrapped
    // line adds a line box; misaligned columns put the bars' `|` at different x positions.
    let blocks = b.eval(
        r#"(() => {
        const out = [];
        for (const pre of document.querySelectorAll('pre')) {
            const text = pre.textContent;
            const lines = text.split('\n');
            const bars = lines.filter(l => /\|[@* ]*\|$/.test(l));
            if (bars.length < 3) continue;
            const slide = pre.closest('section');
            deck.go(slide.id);
            const node = pre.querySelector('code').firstChild;
            const range = document.createRange();
            range.selectNodeContents(node);
            const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
            const lefts = new Set();
            let offset = 0;
            for (const l of lines) {
                if (/\|[@* ]*\|$/.test(l)) {
                    const at = offset + l.indexOf('|');
                    range.setStart(node, at); range.setEnd(node, at + 1);
                    lefts.add(range.getBoundingClientRect().left.toFixed(1));
                }
                offset += l.length + 1;
            }
            const cs = getComputedStyle(pre);
            out.push({ slide: slide.id, title: slide.dataset.title, whiteSpace: cs.whiteSpace,
                nonEmptyLines: lines.filter(l => l.length > 0).length, lineBoxes: tops.size,
                barColumns: lefts.size, scrollWidth: pre.scrollWidth, clientWidth: pre.clientWidth,
                fontPx: parseFloat(cs.fontSize) });
        }
        return out;
    })()"#,
    );
    let blocks = blocks.as_array().expect("array");
    assert!(
        !blocks.is_empty(),
        "the deck should show at least one captured histogram"
    );
    for (i, blk) in blocks.iter().enumerate() {
        assert_eq!(blk["whiteSpace"], json!("pre"), "{blk}");
        assert_eq!(
            blk["lineBoxes"], blk["nonEmptyLines"],
            "histogram lines wrapped: {blk}"
        );
        assert_eq!(
            blk["barColumns"],
            json!(1),
            "histogram bars do not line up: {blk}"
        );
        assert!(
            blk["scrollWidth"].as_f64() <= blk["clientWidth"].as_f64(),
            "histogram cut off: {blk}"
        );
        assert!(
            blk["fontPx"].as_f64().unwrap() >= 9.0,
            "font shrunk below 9px: {blk}"
        );
        let id = blk["slide"].as_str().unwrap();
        b.eval(&format!("deck.go({id:?})"));
        b.screenshot(&artifacts().join(format!("02-histogram-{}.png", i + 1)));
    }

    // Printing: one page per slide (all are revealed here, by --reveal).
    let n = b.eval("deck.visibleCount()").as_u64().unwrap() as usize;
    assert_eq!(n, count_markdown_slides().0, "--reveal shows every slide");
    let pdf = b.pdf(&artifacts().join("deck.pdf"));
    let text = String::from_utf8_lossy(&pdf);
    let pages = text.matches("/Type /Page\n").count()
        + text.matches("/Type /Page/").count()
        + text.matches("/Type /Page>>").count()
        + text.matches("/Type /Page ").count();
    assert_eq!(pages, n, "printed pages vs slides");
}

#[test]
fn broken_slides_name_the_file_and_line() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "# One\n\ntext\n---\n# Two\n\n![diagram](images/missing.svg)\n",
            7,
            "images/missing.svg",
        ),
        (
            "# One\n---\n# Two\n!include captures/nothing.txt\n",
            4,
            "captures/nothing.txt",
        ),
        ("# One\n\n!shout loud\n", 3, "unknown directive"),
        ("# One\n\n```\nno end\n---\n# Two\n", 3, "never closed"),
        ("# One\n\n<div>raw</div>\n", 3, "raw HTML"),
        ("# One\n---\n\n---\n# Three\n", 3, "empty slide"),
        ("# One\n---\nno heading here\n", 3, "heading"),
        ("# One\n\n![x](https://example.com/x.png)\n", 3, "offline"),
    ];
    for (i, (text, line, phrase)) in cases.iter().enumerate() {
        let src = scratch(&format!("broken-{i}"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("01-deck.md"), text).unwrap();
        let out = src.join("out");
        let (code, stdout, stderr) = run(cmd("lab")
            .args(["slides", "--src"])
            .arg(&src)
            .arg("--out")
            .arg(&out));
        let want = format!("{}:{line}: ", src.join("01-deck.md").display());
        assert_ne!(code, 0, "case {i} should fail:\n{text}\n{stdout}");
        assert!(
            stderr.contains(&want) && stderr.contains(phrase),
            "case {i}: want `{want}` and `{phrase}` in:\n{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "one line of error: {stderr}");
        assert!(!out.exists(), "case {i}: nothing written on error");
    }
}

#[test]
fn built_in_deck_matches_the_slides_folder() {
    // `lab` carries a compiled-in copy; a file added to slides/ but not to embedded.rs shows here.
    let built_in = render_deck(&[]);
    let from_dir = scratch("from-dir");
    let (code, _, stderr) = run(cmd("lab")
        .args(["slides", "--src"])
        .arg(slides_dir())
        .arg("--out")
        .arg(&from_dir));
    assert_eq!(code, 0, "{stderr}");
    for f in ["index.html", "deck.css", "deck.js"] {
        let a = std::fs::read(built_in.join(f)).unwrap();
        let b = std::fs::read(from_dir.join(f)).unwrap();
        assert!(a == b, "{f} differs between the built-in deck and slides/: rebuild lab, or list new files in runner/src/slides/embedded.rs");
    }
}

#[test]
fn out_refuses_a_folder_that_is_not_a_deck() {
    let dir = scratch("foreign");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let (code, _, stderr) = run(cmd("lab").args(["slides", "--out"]).arg(&dir));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--out") && stderr.contains("not a deck"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "nothing written"
    );
    // --port only means something with --serve.
    let (code, _, stderr) = run(cmd("lab")
        .args(["slides", "--port", "9000", "--out"])
        .arg(&dir));
    assert_eq!(code, 2, "--port without --serve: {stderr}");
    // A previous deck is fine to overwrite.
    let deck = render_deck(&[]);
    let (code, _, stderr) = run(cmd("lab").args(["slides", "--out"]).arg(&deck));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn serve_answers_on_localhost_only() {
    let mut child = cmd("lab")
        .args(["slides", "--serve", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lab slides --serve");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let get = |addr: &str, path: &str| -> String {
        let mut s = TcpStream::connect(addr).expect("connect");
        write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        resp
    };
    let result = std::panic::catch_unwind(|| {
        let addr = first
            .split("http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or_else(|| panic!("no URL in: {first}"))
            .to_string();
        assert!(
            addr.starts_with("127.0.0.1:"),
            "must bind 127.0.0.1 only: {first}"
        );
        let index = get(&addr, "/");
        assert!(
            index.starts_with("HTTP/1.1 200") || index.starts_with("HTTP/1.0 200"),
            "{index:.200}"
        );
        assert!(index.contains("<section class=\"slide"), "deck HTML served");
        let css = get(&addr, "/deck.css?v=1");
        assert!(
            css.contains("200") && css.to_lowercase().contains("content-type: text/css"),
            "{css:.300}"
        );
        assert!(
            get(&addr, "/nope.html").contains(" 404"),
            "unknown path is 404"
        );
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
