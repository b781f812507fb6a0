//! Applications: a small query-serving process, the kind dbslower and mysqld_qslower look at.
//! It listens on a loopback TCP port for one query per line and answers each with one line;
//! every query fires the USDT probes MySQL has, with MySQL's arguments:
//! `labdb:query__start(query, connection id, db, user, host)` (with a semaphore, as MySQL's)
//! and `labdb:query__done(status)`.
//! Built-in clients (`--clients N`, seeded) send a mix of fast lookups and an occasional slow
//! full scan, so the tools have something real to find; with `--clients 0` only the queries
//! sent to the port run (the tests' exact truth).
//!
//! Output: `ready`, then `port N` (the port it listens on), then nothing.
mod client;
mod engine;

use std::{
    ffi::CString,
    io::{BufRead as _, BufReader, Write as _},
    net::{TcpListener, TcpStream},
    sync::{atomic::AtomicU64, atomic::Ordering, Arc},
};

use anyhow::{Context as _, Result};

use crate::common::{self, Common};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// Loopback port to listen on (0: any free port; printed as `port N`)
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Built-in clients sending the seeded query mix (0: only queries sent to the port)
    #[arg(long, default_value_t = 3)]
    pub clients: u32,
    /// Rows in the `orders` table (a slow full scan reads them all)
    #[arg(long, default_value_t = 200_000)]
    pub rows: usize,
}

pub fn run(args: Args) -> Result<()> {
    let table = Arc::new(engine::Table::new(
        &mut common::rng(args.common.seed),
        args.rows,
    ));
    let listener = TcpListener::bind(("127.0.0.1", args.port)).context("listening on loopback")?;
    let port = listener.local_addr()?.port();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready\nport {port}")?;
    out.flush()?;
    drop(out);
    for i in 0..args.clients {
        client::start(
            port,
            common::rng(args.common.seed.wrapping_add(u64::from(i) + 1)),
        );
    }
    let next_id = Arc::new(AtomicU64::new(1));
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let (table, id) = (table.clone(), next_id.fetch_add(1, Ordering::Relaxed));
        std::thread::spawn(move || serve(conn, &table, id));
    }
    Ok(())
}

/// One connection: run each query line, answer `OK rows` or `ERR why`.
fn serve(conn: TcpStream, table: &engine::Table, conn_id: u64) {
    common::set_thread_name("labdb-conn");
    let Ok(mut w) = conn.try_clone() else { return };
    let (db, user, host) = (c"shop", c"app", c"localhost");
    for line in BufReader::new(conn).lines() {
        let Ok(line) = line else { return };
        let query = CString::new(line.trim()).unwrap_or_default();
        // Guarded by a semaphore, as MySQL's (MYSQL_QUERY_START_ENABLED()): the arguments are
        // only evaluated while a tracer has the probe attached.
        probe::probe_lazy!(
            labdb,
            query__start,
            query.as_ptr(),
            conn_id,
            db.as_ptr(),
            user.as_ptr(),
            host.as_ptr()
        );
        let result = table.run(query.to_str().unwrap_or_default());
        let status: i64 = i64::from(result.is_err());
        probe::probe!(labdb, query__done, status);
        let reply = match result {
            Ok(rows) => format!("OK {rows}\n"),
            Err(why) => format!("ERR {why}\n"),
        };
        if w.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
