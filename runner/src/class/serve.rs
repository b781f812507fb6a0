//! `lab class serve`: the class page over HTTP on 127.0.0.1 (the projector). A background thread
//! polls the VMs every interval; requests are answered from the latest poll, never waiting on SSH.
use std::{
    io::Write as _,
    sync::{Arc, Mutex},
    time::Duration,
};

use super::{Options, Row, Target};

/// The latest poll: rows (sorted) and when it finished.
type Snapshot = Arc<Mutex<Option<(Vec<Row>, String)>>>;

pub fn serve(
    bind: &str,
    port: u16,
    interval: Duration,
    targets: Vec<Target>,
    opts: Options,
) -> anyhow::Result<()> {
    let server = tiny_http::Server::http((bind, port)).map_err(|e| {
        anyhow::anyhow!("cannot listen on {bind}:{port}: {e} (pick another with --port P, or --port 0 for any free port)")
    })?;
    let addr = server
        .server_addr()
        .to_ip()
        .expect("bound to an IP address");
    let latest: Snapshot = Arc::new(Mutex::new(None));
    {
        let latest = latest.clone();
        std::thread::spawn(move || loop {
            let mut rows = super::poll(&targets, &opts);
            super::row::sort(&mut rows);
            *latest.lock().expect("poller") = Some((rows, clock()));
            std::thread::sleep(interval);
        });
    }
    println!(
        "lab class: serving the class page at http://{addr}/ (status.json beside it), refreshed every {} s  (Ctrl-C to stop)",
        interval.as_secs()
    );
    std::io::stdout().flush()?;
    let refresh = interval.as_secs().max(1);
    for request in server.incoming_requests() {
        let path = request
            .url()
            .split(['?', '#'])
            .next()
            .unwrap_or("/")
            .to_string();
        let snapshot = latest.lock().expect("poller").clone();
        let (body, ctype) = match (path.as_str(), snapshot) {
            ("/" | "/index.html", Some((rows, at))) => (
                super::view::page(&rows, refresh, &at),
                "text/html; charset=utf-8",
            ),
            ("/" | "/index.html", None) => (
                "<!doctype html><meta http-equiv=\"refresh\" content=\"1\"><title>lab class</title><p>Asking the VMs ...</p>\n".to_string(),
                "text/html; charset=utf-8",
            ),
            ("/status.json", Some((rows, _))) => (
                serde_json::to_string_pretty(&rows)?,
                "application/json",
            ),
            ("/status.json", None) => ("[]".to_string(), "application/json"),
            _ => {
                let _ = request.respond(tiny_http::Response::from_string("not found\n").with_status_code(404));
                continue;
            }
        };
        let header = tiny_http::Header::from_bytes("Content-Type", ctype).expect("static header");
        let no_cache =
            tiny_http::Header::from_bytes("Cache-Control", "no-store").expect("static header");
        let _ = request.respond(
            tiny_http::Response::from_string(body)
                .with_header(header)
                .with_header(no_cache),
        );
    }
    Ok(())
}

/// Wall-clock time of day (UTC), for "updated HH:MM:SS".
pub fn clock() -> String {
    let t = crate::clock::now();
    format!("{:02}:{:02}:{:02} UTC", t / 3600 % 24, t / 60 % 60, t % 60)
}
