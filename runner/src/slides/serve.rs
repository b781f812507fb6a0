//! `lab slides --serve`: the rendered deck over HTTP on 127.0.0.1 only (the instructor's
//! laptop). A request for the deck itself renders it again, so edits under `--src` show on reload.
use std::io::Write;

use super::render::Rendered;

pub fn serve(
    port: u16,
    mut render: impl FnMut() -> anyhow::Result<Rendered>,
) -> anyhow::Result<()> {
    let mut deck = render()?;
    let server = tiny_http::Server::http(("127.0.0.1", port)).map_err(|e| {
        anyhow::anyhow!("cannot listen on 127.0.0.1:{port}: {e} (pick another with --port P, or --port 0 for any free port)")
    })?;
    let addr = server
        .server_addr()
        .to_ip()
        .expect("bound to an IP address");
    println!(
        "lab slides: serving {} slides ({} discussion, hidden until revealed) at http://{addr}/  (Ctrl-C to stop)",
        deck.slides, deck.discussion
    );
    std::io::stdout().flush()?;
    for request in server.incoming_requests() {
        let path = request
            .url()
            .split(['?', '#'])
            .next()
            .unwrap_or("/")
            .trim_start_matches('/')
            .to_string();
        let path = if path.is_empty() {
            "index.html".to_string()
        } else {
            path
        };
        if path == "index.html" {
            match render() {
                Ok(fresh) => deck = fresh,
                Err(e) => {
                    // Keep serving the last good deck; say what broke where the author is looking.
                    eprintln!("lab slides: {e:#}");
                    let body = format!("lab slides: cannot render the deck:\n{e:#}\n");
                    let _ = request
                        .respond(tiny_http::Response::from_string(body).with_status_code(500));
                    continue;
                }
            }
        }
        let response = match deck.files.iter().find(|(name, _)| *name == path) {
            Some((name, bytes)) => {
                let header = tiny_http::Header::from_bytes("Content-Type", content_type(name))
                    .expect("static header");
                tiny_http::Response::from_data(bytes.clone())
                    .with_header(header)
                    .with_status_code(200)
            }
            None => tiny_http::Response::from_string("not found\n").with_status_code(404),
        };
        let _ = request.respond(response);
    }
    Ok(())
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        _ => "application/octet-stream",
    }
}
