//! A built-in client: connects to the server over loopback and sends the seeded query mix with
//! a short think time between queries, forever.
use std::{
    io::{BufRead as _, BufReader, Write as _},
    net::TcpStream,
    time::Duration,
};

use super::engine::next_query;
use crate::common::{self, Rng};

/// Rows the clients' lookups pick ids from (the table may be larger).
const IDS: usize = 100_000;

pub fn start(port: u16, mut rng: Rng) {
    std::thread::spawn(move || {
        common::set_thread_name("labdb-client");
        let Ok(conn) = TcpStream::connect(("127.0.0.1", port)) else {
            return;
        };
        let Ok(mut w) = conn.try_clone() else { return };
        let mut replies = BufReader::new(conn);
        let mut line = String::new();
        loop {
            let q = next_query(&mut rng, IDS, 40);
            if writeln!(w, "{q}").is_err() {
                return;
            }
            line.clear();
            if replies.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(rng.range(5, 25)));
        }
    });
}
