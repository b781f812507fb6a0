//! Just enough of the Chrome DevTools Protocol to drive headless Chromium from a test: launch,
//! open a page, evaluate JavaScript, press keys, take screenshots and PDFs.
use std::{
    io::{BufRead, BufReader},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use base64::Engine;
use serde_json::{json, Value};
use tungstenite::{stream::MaybeTlsStream, Message, WebSocket};

/// The Chromium binary, or None when it is not installed.
pub fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

pub struct Browser {
    child: Child,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    profile: PathBuf,
    /// Protocol events read while waiting for replies (e.g. Network.requestWillBeSent).
    pub events: Vec<Value>,
}

impl Browser {
    pub fn launch(binary: &Path, width: u32, height: u32) -> Browser {
        static LAUNCHES: AtomicUsize = AtomicUsize::new(0);
        let n = LAUNCHES.fetch_add(1, Ordering::SeqCst);
        // A fresh profile per browser: two instances sharing one would hand off to each other.
        let profile =
            std::env::temp_dir().join(format!("lab-slides-chromium-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).expect("profile dir");
        let mut child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--remote-debugging-port=0",
                &format!("--user-data-dir={}", profile.display()),
                &format!("--window-size={width},{height}"),
                "about:blank",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        // Chromium prints its DevTools address on stderr; keep draining stderr afterwards.
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("chromium did not print its DevTools address within 60 s");
            }
        };
        let (mut ws, _) =
            tungstenite::connect(url.as_str()).expect("connect to DevTools websocket");
        if let MaybeTlsStream::Plain(s) = ws.get_mut() {
            s.set_read_timeout(Some(Duration::from_secs(60)))
                .expect("read timeout");
        }
        let mut b = Browser {
            child,
            ws,
            session: String::new(),
            next_id: 0,
            profile,
            events: Vec::new(),
        };
        let target = b.call("Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().expect("targetId").to_string();
        let attached = b.call(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        );
        b.session = attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_string();
        b.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        );
        b
    }

    /// One command; returns its result, panics on a protocol error. Events are skipped.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .expect("send to chromium");
        loop {
            let reply = self
                .ws
                .read()
                .unwrap_or_else(|e| panic!("{method}: no reply from chromium: {e}"));
            let Message::Text(text) = reply else { continue };
            let v: Value = serde_json::from_str(&text).expect("DevTools JSON");
            if v.get("method").is_some() {
                self.events.push(v);
                continue;
            }
            if v["id"] == json!(id) {
                if let Some(err) = v.get("error") {
                    panic!("{method} failed: {err}");
                }
                return v["result"].clone();
            }
        }
    }

    /// Evaluate a JavaScript expression in the page and return its (JSON) value.
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expr, "returnByValue": true }),
        );
        if let Some(ex) = r.get("exceptionDetails") {
            panic!("JavaScript failed: {expr}\n{ex}");
        }
        r["result"]["value"].clone()
    }

    /// Load a URL and wait until the deck script has run.
    pub fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self.eval(&format!(
                "document.readyState === 'complete' && !!window.deck && window.deck.ready === true \
                 && location.href.split('#')[0] === {:?}",
                url.split('#').next().unwrap_or(url)
            ));
            if ready == json!(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "deck at {url} did not finish loading within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Press and release one key, as a user would (DOM `key` value, e.g. "ArrowRight", " ", "r").
    pub fn key(&mut self, key: &str) {
        let (code, vk, text) = match key {
            "ArrowRight" => ("ArrowRight", 39, ""),
            "ArrowLeft" => ("ArrowLeft", 37, ""),
            "ArrowDown" => ("ArrowDown", 40, ""),
            "ArrowUp" => ("ArrowUp", 38, ""),
            "Home" => ("Home", 36, ""),
            "End" => ("End", 35, ""),
            "PageDown" => ("PageDown", 34, ""),
            " " => ("Space", 32, " "),
            "n" => ("KeyN", 78, "n"),
            "r" => ("KeyR", 82, "r"),
            other => panic!("key {other:?} not mapped in cdp.rs"),
        };
        for kind in ["keyDown", "keyUp"] {
            let mut p =
                json!({ "type": kind, "key": key, "code": code, "windowsVirtualKeyCode": vk });
            if kind == "keyDown" && !text.is_empty() {
                p["text"] = json!(text);
            }
            self.call("Input.dispatchKeyEvent", p);
        }
    }

    pub fn screenshot(&mut self, path: &Path) {
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        write_base64(path, &r["data"]);
    }

    pub fn pdf(&mut self, path: &Path) -> Vec<u8> {
        let r = self.call(
            "Page.printToPDF",
            json!({ "preferCSSPageSize": true, "printBackground": true }),
        );
        write_base64(path, &r["data"])
    }
}

fn write_base64(path: &Path, data: &Value) -> Vec<u8> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.as_str().expect("base64 data"))
        .expect("valid base64");
    std::fs::write(path, &bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    bytes
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ask politely so Chromium takes its helper processes down with it; kill if it lingers.
        let close = json!({ "id": u64::MAX, "method": "Browser.close" }).to_string();
        let _ = self.ws.send(Message::text(close));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
